"""Subscriber import from CSV or XLSX: map columns, validate, dedupe, write in bulk.

The file is streamed in chunks of ``CHUNK_ROWS`` rows; each chunk costs three lookups and
at most four bulk statements, whatever its size. An import never resubscribes anyone who
unsubscribed or is suppressed, and a bad row never stops the good ones.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from service.errors import DomainError, Message, message_of
from service.mail.addresses import Address, InvalidAddress, email_hash, normalise
from service.model import (
    ImportJob,
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    UTCDateTime,
    utcnow,
)
from service.subscribers.consent import CONSENT_TEXT_VERSION
from service.subscribers.tabular import FileFormatError, TableInfo, count_rows, iter_rows, sniff

log = logging.getLogger(__name__)

CHUNK_ROWS = 1000
# Chunks parsed ahead of the one being written (memory: this many chunks at most).
READ_AHEAD_CHUNKS = 2
READ_AHEAD_POLL_SECONDS = 0.2
WRITERS = 2  # PostgreSQL connections writing chunks side by side (the machine's 2 cores)
PG_SEPARATOR = "\n"  # joins the values of an array parameter (see _one_of)
# The profile updates ("add and update") are a Core executemany, not ORM objects.
SUBSCRIBERS = cast(Table, Subscriber.__table__)
MODES = ("add", "upsert")
CORE_FIELDS = ("email", "name", "organisation", "language")
IGNORE = "ignore"
ATTRIBUTE = "attribute"  # the column becomes an attribute named after its header
NAME_MAX = 200
LANGUAGE_MAX = 16
DEFAULT_LANGUAGE = "zh-CN"
SHOWN_VALUE_MAX = 80
# How much of an unexpected error a failed job's report quotes.
MAX_STOP_REASON_CHARS = 1000
DOMAIN_CACHE_SIZE = 10_000
# Header names we recognise without asking (compared case-insensitively, spaces ignored).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "e-mail",
        "e_mail",
        "mail",
        "emailaddress",
        "email address",
        "邮箱",
        "电子邮件",
        "电子邮箱",
        "邮件地址",
        "邮箱地址",
        "电子邮件地址",
        "e-mail地址",
    ),
    "name": ("name", "fullname", "full name", "contact", "姓名", "名字", "联系人", "称呼"),
    "organisation": (
        "organisation",
        "organization",
        "org",
        "company",
        "employer",
        "单位",
        "公司",
        "企业",
        "单位名称",
        "公司名称",
        "企业名称",
        "工作单位",
        "机构",
    ),
    "language": ("language", "lang", "locale", "语言"),
}
LANGUAGE_ALIASES = {
    "中文": "zh-CN",
    "简体中文": "zh-CN",
    "zh": "zh-CN",
    "zh-cn": "zh-CN",
    "chinese": "zh-CN",
    "英文": "en",
    "english": "en",
    "en": "en",
}
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
# An ASCII dot-atom local part: email-validator accepts every one of these as it is, so
# only the domain needs its (slow, IDNA) check, done once per domain.
ASCII_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
LOCAL_MAX = 64
ADDRESS_MAX = 254
IMPORT_CONSENT_BASIS = "prior consent asserted by the importing staff member"


class ImportSetupError(DomainError, ValueError):
    """The import cannot start (no email column, unknown list or mode)."""


# --- column mapping ---------------------------------------------------------------------


def _header_key(header: str) -> str:
    return re.sub(r"[\s_]+", " ", header.strip().lstrip("\ufeff").casefold()).strip()


_ALIAS_INDEX = {
    _header_key(alias): target for target, names in HEADER_ALIASES.items() for alias in names
}


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """Map each header to a field by its name (English or Chinese); anything unknown
    becomes an attribute. Only the first column that looks like a field gets it."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        key = _header_key(header)
        target = _ALIAS_INDEX.get(key) or _ALIAS_INDEX.get(key.replace(" ", ""))
        if target and target not in taken:
            mapping[header] = target
            taken.add(target)
        else:
            mapping[header] = ATTRIBUTE
    if "email" not in taken and len(headers) == 1:
        mapping[headers[0]] = "email"  # a bare list of addresses
    return mapping


def parse_map_options(options: Iterable[str]) -> dict[str, str]:
    """``["邮箱=email", "手机=phone"]`` → ``{"邮箱": "email", "手机": "phone"}``."""
    result = {}
    for option in options:
        column, sep, target = option.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise ImportSetupError(
                "import.bad_map_option", "--map wants COLUMN=FIELD, got %(option)r", option=option
            )
        result[column.strip()] = target.strip()
    return result


def complete_mapping(headers: list[str], overrides: dict[str, str] | None) -> dict[str, str]:
    """The guessed mapping with ``overrides`` applied; checks exactly one email column."""
    mapping = guess_mapping(headers)
    for column, target in (overrides or {}).items():
        if column not in mapping:
            raise ImportSetupError(
                "import.no_column",
                "there is no column %(column)r; the columns are: %(columns)s",
                column=column,
                columns=", ".join(headers),
            )
        if target in CORE_FIELDS:
            for other, current in mapping.items():  # a field belongs to one column only
                if current == target and other != column:
                    mapping[other] = ATTRIBUTE
        mapping[column] = target
    emails = [c for c, t in mapping.items() if t == "email"]
    if len(emails) != 1:
        if not emails:
            raise ImportSetupError("import.no_email_column", "no column is mapped to email")
        raise ImportSetupError("import.two_email_columns", "only one column can be email")
    return mapping


# --- one row ----------------------------------------------------------------------------


@dataclass
class Candidate:
    """A row that passed validation, waiting for its chunk to be written."""

    line: int
    address: Address
    profile: dict[str, str]  # name, organisation, language (only the ones given)
    attributes: dict[str, str]


@dataclass
class ImportReport:
    """What an import did. ``errors`` lists every row not imported for a fault of its own."""

    encoding: str = ""
    delimiter: str = ""
    total: int = 0
    processed: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0  # unsubscribed, erased or suppressed: never resubscribed
    unchanged: int = 0  # already on the list ("add only")
    duplicates: int = 0  # the same address again further down the file
    smtputf8: int = 0  # accepted, but only an SMTPUTF8 relay can deliver to them
    cleaned: int = 0  # line breaks or control characters removed from a value
    errors: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object of the CLI (DESIGN §7), plus the extra counters.

        Its errors are ``{line, reason}`` as DESIGN §7 has them (the codes are for the admin).
        """
        errors = [{"line": e["line"], "reason": e["reason"]} for e in self.errors]
        return {**asdict(self), "errors": errors}


def row_error(line: int | None, message: Message) -> dict[str, Any]:
    """One entry of a report's (and a job's) ``errors``: the line, the English ``reason``
    that the CLI and the API show, and the code and parameters the admin translates."""
    entry: dict[str, Any] = {"line": line, "reason": message.text, "code": message.code}
    if message.params:
        entry["params"] = message.dump()["params"]
    return entry


def row_message(entry: Mapping[str, Any]) -> Message:
    """The message of an ``errors`` entry (one stored before codes existed has only text)."""
    return Message.load(
        {"code": entry.get("code"), "text": entry.get("reason"), "params": entry.get("params")}
    )


def _clean(value: str, report: ImportReport, limit: int = NAME_MAX) -> str:
    # A line break in a name would be a header-injection attempt if it reached a mail
    # header; it is folded to a space and counted, never stored.
    text = value.strip()
    if CONTROL_CHARS.search(text):
        text = CONTROL_CHARS.sub(" ", text).strip()
        report.cleaned += 1
    return text[:limit]


_domains: OrderedDict[str, tuple[str, str] | InvalidAddress] = OrderedDict()


def _domain_forms(domain: str) -> tuple[str, str]:
    cached = _domains.get(domain)
    if cached is None:
        try:
            checked = normalise(f"a@{domain}")
            cached = (checked.email[2:], checked.email_ascii[2:])
        except InvalidAddress as exc:
            cached = exc
        _domains[domain] = cached
        if len(_domains) > DOMAIN_CACHE_SIZE:
            _domains.popitem(last=False)
    if isinstance(cached, InvalidAddress):
        raise cached
    return cached


def check_address(raw: str) -> Address:
    """``normalise``, with the domain check cached: a list of 100,000 people has a few
    hundred domains, and the IDNA check of a domain is most of the cost. Anything but a
    plain ASCII local part goes through ``normalise`` whole."""
    text = (raw or "").strip()
    local, at, domain = text.rpartition("@")
    if at and len(local) <= LOCAL_MAX and ASCII_LOCAL.fullmatch(local):
        unicode_domain, ascii_domain = _domain_forms(domain)
        email_ascii = f"{local.lower()}@{ascii_domain}"
        if len(email_ascii) <= ADDRESS_MAX:
            return Address(f"{local.lower()}@{unicode_domain}", email_ascii, False)
    return normalise(text)


def _shown(value: str) -> str:
    text = CONTROL_CHARS.sub(" ", value).strip()
    return text if len(text) <= SHOWN_VALUE_MAX else text[: SHOWN_VALUE_MAX - 1] + "…"


class RowParser:
    """Turns the cells of one row into a ``Candidate`` or an error entry."""

    def __init__(self, headers: list[str], mapping: dict[str, str], report: ImportReport):
        self.width = len(headers)
        self.report = report
        self.columns: list[tuple[int, str, str]] = []  # (index, field, attribute key)
        for index, header in enumerate(headers):
            target = mapping.get(header, ATTRIBUTE)
            if target == IGNORE:
                continue
            if target in CORE_FIELDS:
                self.columns.append((index, target, ""))
            else:
                self.columns.append((index, ATTRIBUTE, header if target == ATTRIBUTE else target))

    def parse(self, line: int, cells: list[str]) -> Candidate | None:
        """The row's candidate, or None after recording why the row is not imported."""
        if len(cells) > self.width and any(c.strip() for c in cells[self.width :]):
            return self._error(
                line,
                Message.of(
                    "import.row_too_wide",
                    "this row has %(fields)s fields but the header has %(width)s; "
                    "check the delimiter and the quotes",
                    fields=len(cells),
                    width=self.width,
                ),
            )
        values: dict[str, str] = {}
        attributes: dict[str, str] = {}
        for index, target, key in self.columns:
            cell = cells[index] if index < len(cells) else ""
            if target == ATTRIBUTE:
                if cell.strip():
                    attributes[key] = _clean(cell, self.report, limit=1000)
            else:
                values[target] = cell
        raw = values.pop("email", "").strip()
        if not raw:
            return self._error(line, Message.of("import.no_address", "no email address"))
        try:
            address = check_address(raw)
        except InvalidAddress as exc:
            return self._error(
                line,
                Message.of(
                    "import.bad_address",
                    "invalid address %(address)r: %(error)s",
                    address=_shown(raw),
                    error=exc.detail,
                ),
            )
        if address.needs_smtputf8:
            self.report.smtputf8 += 1
        return Candidate(line, address, self._profile(values), attributes)

    def _profile(self, values: dict[str, str]) -> dict[str, str]:
        profile: dict[str, str] = {}
        for key in ("name", "organisation"):
            if key in values and values[key].strip():
                profile[key] = _clean(values[key], self.report)
        language = values.get("language", "").strip()
        if language:
            language = LANGUAGE_ALIASES.get(language.casefold(), language)
            if len(language) <= LANGUAGE_MAX and not CONTROL_CHARS.search(language):
                profile["language"] = language
        return profile

    def _error(self, line: int, reason: Message) -> Candidate | None:
        self.report.errors.append(row_error(line, reason))
        return None


# --- writing a chunk --------------------------------------------------------------------


@dataclass
class ImportTarget:
    """Where and how rows are written.

    ``started`` stamps every row this import creates or changes (created_at, updated_at,
    the membership's created_at): a later row of the same file that finds its address
    stamped is a duplicate. That keeps the dedupe exact without an in-memory set that
    would grow with the file.
    """

    list_id: int
    mode: str
    filename: str
    job_id: int | None = None
    started: datetime = field(default_factory=utcnow)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _one_of(session: Session, column: Any, values: list[Any], item_type: Any) -> Any:
    """``column IN values`` with ONE parameter, so the statement text is the same for
    every chunk: PostgreSQL ``= ANY(array)``; SQLite ``IN (SELECT value FROM json_each)``.

    A thousand placeholders would cost psycopg a parse per chunk, and on SQLite every
    distinct text is a prepared statement kept in the connection's cache (128 of them,
    hundreds of KB each for a long IN list: tens of MB that grew with the file). On
    PostgreSQL the array travels as one joined string: psycopg adapts a Python list of a
    thousand strings in ≈ 3.8 ms, the server splits the string in ≈ 0.1 ms (timed once
    with psycopg 3.3 against PostgreSQL 15; bench/import.py shows the whole import).
    """
    if _is_postgresql(session):
        return column == any_(sql_cast(_pg_array(values), ARRAY(item_type)))
    return column.in_(
        select(literal_column("value")).select_from(
            func.json_each(bindparam(None, json.dumps(values, ensure_ascii=False)))
        )
    )


def _pg_array(values: list[Any]) -> Any:
    # Newline-joined: no validated address, hash or id contains one.
    return func.string_to_array(bindparam(None, _joined(values)), literal(PG_SEPARATOR))


def _joined(values: list[Any]) -> str:
    return PG_SEPARATOR.join(str(v) for v in values)


def _lookup(session: Session, chunk: list[Candidate], list_id: int) -> tuple[Any, Any, Any]:
    emails = [c.address.email for c in chunk]
    existing = {
        row.email: row
        for row in session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.status,
                Subscriber.name,
                Subscriber.organisation,
                Subscriber.language,
                Subscriber.attributes,
                Subscriber.created_at,
                Subscriber.updated_at,
            ).where(_one_of(session, Subscriber.email, emails, String))
        )
    }
    hashes = {email: email_hash(email) for email in emails}
    suppressed = set(
        session.scalars(
            select(Suppression.email_hash).where(
                _one_of(session, Suppression.email_hash, list(hashes.values()), String)
            )
        )
    )
    known = [r.id for r in existing.values()]
    members = (
        {
            sid: (status, created)
            for sid, status, created in session.execute(
                select(Membership.subscriber_id, Membership.status, Membership.created_at).where(
                    Membership.list_id == list_id,
                    _one_of(session, Membership.subscriber_id, known, Integer),
                )
            )
        }
        if known  # a chunk of new people needs no membership lookup
        else {}
    )
    return existing, {e for e, h in hashes.items() if h in suppressed}, members


def _duplicate(report: ImportReport, cand: Candidate) -> None:
    report.duplicates += 1
    report.errors.append(
        row_error(
            cand.line,
            Message.of(
                "import.duplicate",
                "%(email)s appears earlier in the file (compared ignoring case)",
                email=cand.address.email,
            ),
        )
    )


@dataclass
class _Plan:
    """What one chunk will write, decided from the lookup (no writes yet)."""

    new: list[Candidate] = field(default_factory=list)
    join: list[int] = field(default_factory=list)  # known people who join the list
    join_new: list[str] = field(default_factory=list)  # new people, by address
    updates: list[dict[str, Any]] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)  # every address the chunk holds


def _plan_chunk(
    session: Session,
    chunk: list[Candidate],
    target: ImportTarget,
    report: ImportReport,
    in_flight: set[str],
) -> _Plan:
    """Look the chunk up and sort its rows into writes and report lines.

    ``in_flight`` holds the addresses of chunks still being written by other
    connections: the lookup cannot see those rows yet, so an address among them is a
    duplicate of an earlier line, exactly as one already in the database with this
    import's stamp is.
    """
    plan = _Plan()
    if not chunk:  # every line of it was bad: nothing to look up or write
        return plan
    existing, suppressed, members = _lookup(session, chunk, target.list_id)
    stamp = target.started
    new: dict[str, Candidate] = {}
    updates: dict[int, dict[str, Any]] = {}
    for cand in chunk:
        email = cand.address.email
        row = existing.get(email)
        repeated = email in plan.emails or email in in_flight
        plan.emails.add(email)
        member = members.get(row.id) if row is not None else None
        if repeated:
            _duplicate(report, cand)
        elif row is not None and stamp in (
            row.created_at,
            row.updated_at,
            member[1] if member else None,
        ):
            _duplicate(report, cand)  # written by an earlier chunk of this file
        elif email in suppressed:
            report.skipped += 1
        elif row is None:
            new[email] = cand
            plan.join_new.append(email)
        elif row.status != SubscriberStatus.ENABLED or (
            member is not None and member[0] == MembershipStatus.UNSUBSCRIBED
        ):
            report.skipped += 1
        else:
            change = _merged(row, cand) if target.mode == "upsert" else None
            if change is not None:
                updates[row.id] = change
            if member is None:
                plan.join.append(row.id)  # a known person joins this list: "added"
            elif change is not None:
                report.updated += 1
            else:
                report.unchanged += 1
    plan.new = list(new.values())
    plan.updates = list(updates.values())
    return plan


def _apply(session: Session, plan: _Plan, target: ImportTarget) -> int:
    """Write a planned chunk (uncommitted); return how many people joined the list."""
    ids = _insert_subscribers(session, plan.new, target.started)
    join = plan.join + [ids[email] for email in plan.join_new]
    _insert_memberships(session, join, target)
    _update_profiles(session, plan.updates, target.started)
    return len(join)


def _merged(row: Any, cand: Candidate) -> dict[str, Any] | None:
    # "Add and update": a non-empty cell replaces the stored value; an empty one keeps it.
    current = {"name": row.name, "organisation": row.organisation, "language": row.language}
    wanted = {**current, **cand.profile}
    attributes = {**(row.attributes or {}), **cand.attributes}
    if wanted == current and attributes == (row.attributes or {}):
        return None
    return {"b_id": row.id, **{f"b_{k}": v for k, v in wanted.items()}, "b_attributes": attributes}


def _subscriber_rows(new: list[Candidate]) -> list[dict[str, Any]]:
    return [
        {
            "email": c.address.email,
            "email_ascii": c.address.email_ascii,
            "name": c.profile.get("name", ""),
            "organisation": c.profile.get("organisation", ""),
            "language": c.profile.get("language", DEFAULT_LANGUAGE),
            "attributes": c.attributes,
        }
        for c in new
    ]


# PostgreSQL gets each chunk's new subscribers as one JSON document: json.dumps and the
# server's parser are both C, while nine thousand placeholders cost psycopg and the
# planner far more. (One statement with data-modifying CTEs for all three tables was
# tried and measured slower: the deferred foreign-key checks pile up.)
PG_INSERT_SUBSCRIBERS = text(
    """
    INSERT INTO subscribers
        (email, email_ascii, name, organisation, language, attributes, status,
         created_at, updated_at)
    SELECT email, email_ascii, name, organisation, language, attributes, :status,
        :stamp, :stamp
    FROM json_to_recordset(CAST(:rows AS JSON)) AS t(
        email TEXT, email_ascii TEXT, name TEXT, organisation TEXT, language TEXT,
        attributes JSON)
    RETURNING id, email
    """
)
# SQLite: the same shape with json_each(): one statement text whatever the chunk holds.
SQLITE_INSERT_SUBSCRIBERS = text(
    """
    INSERT INTO subscribers
        (email, email_ascii, name, organisation, language, attributes, status,
         created_at, updated_at)
    SELECT json_extract(value, '$.email'), json_extract(value, '$.email_ascii'),
        json_extract(value, '$.name'), json_extract(value, '$.organisation'),
        json_extract(value, '$.language'), json_extract(value, '$.attributes'), :status,
        :stamp, :stamp
    FROM json_each(:rows)
    RETURNING id, email
    """
).bindparams(bindparam("stamp", type_=UTCDateTime()))
SQLITE_INSERT_MEMBERSHIPS = text(
    """
    INSERT INTO memberships (subscriber_id, list_id, status, created_at, confirmed_at)
    SELECT value, :list_id, :status, :stamp, :stamp FROM json_each(:ids)
    """
).bindparams(bindparam("stamp", type_=UTCDateTime()))
SQLITE_INSERT_CONSENTS = text(
    """
    INSERT INTO consents
        (subscriber_id, list_id, action, source, at, consent_text_version, detail)
    SELECT value, :list_id, 'import', 'import', :at, :version, :detail FROM json_each(:ids)
    """
).bindparams(bindparam("at", type_=UTCDateTime()))
PG_INSERT_MEMBERSHIPS = text(
    """
    INSERT INTO memberships (subscriber_id, list_id, status, created_at, confirmed_at)
    SELECT sid, :list_id, :status, :stamp, :stamp
    FROM unnest(CAST(string_to_array(:ids, :sep) AS INTEGER[])) AS t(sid)
    """
)
PG_INSERT_CONSENTS = text(
    """
    INSERT INTO consents
        (subscriber_id, list_id, action, source, at, consent_text_version, detail)
    SELECT sid, :list_id, 'import', 'import', :at, :version, CAST(:detail AS JSON)
    FROM unnest(CAST(string_to_array(:ids, :sep) AS INTEGER[])) AS t(sid)
    """
)


def _insert_subscribers(session: Session, new: list[Candidate], stamp: datetime) -> dict[str, int]:
    if not new:
        return {}
    rows = _subscriber_rows(new)
    if _is_postgresql(session):
        result = session.execute(
            PG_INSERT_SUBSCRIBERS,
            {
                "status": SubscriberStatus.ENABLED.value,
                "stamp": stamp,
                "rows": json.dumps(rows, ensure_ascii=False),
            },
        )
    else:
        result = session.execute(
            SQLITE_INSERT_SUBSCRIBERS,
            {
                "status": SubscriberStatus.ENABLED.value,
                "stamp": stamp,
                "rows": json.dumps(rows, ensure_ascii=False),
            },
        )
    return {email: sid for sid, email in result}


def _consent_detail(target: ImportTarget) -> dict[str, Any]:
    # The importer asserts prior consent; the file and the job are the evidence.
    return {"file": target.filename, "job": target.job_id, "basis": IMPORT_CONSENT_BASIS}


def _insert_memberships(session: Session, ids: list[int], target: ImportTarget) -> None:
    """Active memberships plus their "import" consent rows (the rows record_consent()
    appends, written for the whole chunk in one statement each)."""
    if not ids:
        return
    postgresql = _is_postgresql(session)
    common = {
        "ids": _joined(ids) if postgresql else json.dumps(ids),
        "list_id": target.list_id,
        **({"sep": PG_SEPARATOR} if postgresql else {}),
    }
    session.execute(
        PG_INSERT_MEMBERSHIPS if postgresql else SQLITE_INSERT_MEMBERSHIPS,
        {**common, "status": MembershipStatus.ACTIVE.value, "stamp": target.started},
    )
    session.execute(
        PG_INSERT_CONSENTS if postgresql else SQLITE_INSERT_CONSENTS,
        {
            **common,
            "at": utcnow(),
            "version": CONSENT_TEXT_VERSION,
            "detail": json.dumps(_consent_detail(target), ensure_ascii=False),
        },
    )


def _update_profiles(session: Session, updates: list[dict[str, Any]], stamp: datetime) -> None:
    if not updates:
        return
    statement = (
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.id == bindparam("b_id"))
        .values(
            name=bindparam("b_name"),
            organisation=bindparam("b_organisation"),
            language=bindparam("b_language"),
            attributes=bindparam("b_attributes", type_=SUBSCRIBERS.c.attributes.type),
            updated_at=stamp,
        )
    )
    session.connection().execute(statement, updates)


# --- the whole file ---------------------------------------------------------------------


def resolve_list(session: Session, slug_or_id: str | int) -> MailingList:
    """The list named by its slug (CLI) or id (web); ``ImportSetupError`` if unknown."""
    column = MailingList.id if isinstance(slug_or_id, int) else MailingList.slug
    found = session.scalar(select(MailingList).where(column == slug_or_id))
    if found is None:
        raise ImportSetupError("import.no_list", "there is no list %(list)r", list=slug_or_id)
    if found.archived_at is not None:
        raise ImportSetupError(
            "import.list_archived", "the list %(slug)r is archived", slug=found.slug
        )
    return found


def import_file(
    session: Session,
    path: Path,
    target: ImportTarget,
    mapping: dict[str, str] | None = None,
    info: TableInfo | None = None,
    on_chunk: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import ``path`` into ``target.list_id``. ``mapping`` overrides the guessed one.

    ``on_chunk`` is called after each chunk is written (the Celery task commits there and
    publishes progress); raises ``FileFormatError`` / ``ImportSetupError`` before writing
    anything when the file or the settings are unusable.
    """
    if target.mode not in MODES:
        raise ImportSetupError(
            "import.bad_mode", "the mode must be one of %(modes)s", modes=", ".join(MODES)
        )
    info = info or sniff(path)
    full_mapping = complete_mapping(info.headers, mapping)
    report = ImportReport(encoding=info.encoding_label, delimiter=info.delimiter)
    report.total = count_rows(path, info)
    parser = RowParser(info.headers, full_mapping, report)
    chunks = _read_ahead(_parsed_chunks(path, info, parser))
    if _is_postgresql(session):
        _import_in_parallel(session, chunks, target, report, on_chunk)
    else:
        for chunk, processed in chunks:
            report.processed = processed
            plan = _plan_chunk(session, chunk, target, report, set())
            report.added += _apply(session, plan, target)
            if on_chunk is not None:
                on_chunk(report)
    report.errors.sort(key=lambda e: e["line"])  # duplicates are found at chunk time
    report.total = report.processed  # the line count was an estimate (empty lines, quotes)
    return report


def _parsed_chunks(
    path: Path, info: TableInfo, parser: RowParser
) -> Iterator[tuple[list[Candidate], int]]:
    """Chunks of ``CHUNK_ROWS`` rows as candidates, with the count of rows read so far."""
    chunk: list[Candidate] = []
    processed = 0
    for line, cells in iter_rows(path, info):
        processed += 1
        candidate = parser.parse(line, cells)
        if candidate is not None:
            chunk.append(candidate)
        if processed % CHUNK_ROWS == 0:
            yield chunk, processed
            chunk = []
    yield chunk, processed


@dataclass
class _Failure:
    error: BaseException


_DONE = object()


def _read_ahead(items: Iterator[Any], depth: int = READ_AHEAD_CHUNKS) -> Iterator[Any]:
    """Produce ``items`` in a thread, at most ``depth`` ahead of the consumer.

    Parsing is Python work and writing is mostly waiting for the database, so the next
    chunk is parsed while this one is written. The bounded queue keeps memory flat; an
    error in the reader (a broken file) is raised here, in the caller's thread.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=READ_AHEAD_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failure(exc))
            return
        put(_DONE)

    reader = threading.Thread(target=produce, name="import-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()  # the consumer stopped early (an error while writing): release the reader
        reader.join()


def _import_in_parallel(
    session: Session,
    chunks: Iterator[tuple[list[Candidate], int]],
    target: ImportTarget,
    report: ImportReport,
    on_chunk: Callable[[ImportReport], None] | None,
) -> None:
    """PostgreSQL: plan chunks here, write them on ``WRITERS`` connections of their own.

    The server's share of an import (indexes, foreign-key checks: ≈ 40 µs a row) was the
    critical path, one chunk after another on one backend; two backends use both cores
    (bench/import.py: 100,000 rows in ≈ 3.8 s instead of 6–8 s). Each chunk commits on
    its own, as before; progress is reported in file order, once per chunk.
    """
    in_flight: deque[tuple[Future[int], _Plan, int]] = deque()
    writers = threading.local()  # one session (connection) per writer thread
    opened: list[Session] = []
    engine = session.get_bind()

    def write(plan: _Plan) -> int:
        if not hasattr(writers, "session"):
            writers.session = Session(bind=engine)
            opened.append(writers.session)
        try:
            added = _apply(writers.session, plan, target)
            writers.session.commit()
            return added
        except BaseException:
            writers.session.rollback()
            raise

    def settle_oldest() -> None:
        future, _plan, processed = in_flight.popleft()
        report.added += future.result()  # re-raises a writer's error here
        report.processed = processed
        if on_chunk is not None:
            on_chunk(report)

    try:
        # At most WRITERS chunks are in flight, each on a thread of its own: none waits in
        # the pool's queue, so after an error its exit only waits for the running writes.
        with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="import-writer") as pool:
            for chunk, processed in chunks:
                if len(in_flight) >= WRITERS:
                    settle_oldest()
                busy: set[str] = set().union(*(plan.emails for _f, plan, _p in in_flight))
                plan = _plan_chunk(session, chunk, target, report, busy)
                session.commit()  # end the lookup's snapshot: the next one sees new commits
                in_flight.append((pool.submit(write, plan), plan, processed))
            while in_flight:
                settle_oldest()
    finally:
        # Also after an error: the pool's exit has waited for the writers, so none still
        # uses its session (connection) when it is closed here.
        for writer_session in opened:
            writer_session.close()


# --- import jobs (the admin's upload, run by the worker) ---------------------------------


def store_progress(job: ImportJob, report: ImportReport, final: bool = False) -> None:
    """Copy the report's counters onto the job (errors only at the end: the list can be
    long, and rewriting it every chunk would cost more than the import)."""
    job.encoding = report.encoding
    job.total_rows = report.total
    job.processed_rows = report.processed
    job.added = report.added
    job.updated = report.updated
    job.skipped = report.skipped
    extra = {
        "unchanged": report.unchanged,
        "duplicates": report.duplicates,
        "smtputf8": report.smtputf8,
        "cleaned": report.cleaned,
        "error_count": len(report.errors),
        "delimiter": report.delimiter,
    }
    job.mapping = {**(job.mapping or {}), "report": extra}
    if final:
        job.errors = list(report.errors)


def job_mapping(job: ImportJob) -> dict[str, str]:
    """The column mapping chosen on the mapping page."""
    return dict((job.mapping or {}).get("columns", {}))


def job_path(data_dir: Path, job: ImportJob) -> Path:
    """Where the uploaded file of ``job`` waits for the worker."""
    return data_dir / "imports" / f"{job.id}.upload"


def store_upload(
    session: Session,
    data_dir: Path,
    save: Callable[[Path], None],
    *,
    list_id: int,
    filename: str,
    mode: str,
    status: str,
    created_by: int | None,
) -> tuple[ImportJob, TableInfo]:
    """Make an import job, store its file (``save(path)``) and read its shape.

    Raises ``FileFormatError`` for a file that cannot be imported; the stored file is
    removed then and the caller rolls the job back.
    """
    job = ImportJob(
        list_id=list_id, filename=filename[-300:], status=status, mode=mode, created_by=created_by
    )
    session.add(job)
    session.flush()
    path = job_path(data_dir, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(path)
    try:
        info = sniff(path)
    except FileFormatError:
        path.unlink(missing_ok=True)
        raise
    job.encoding = info.encoding_label
    return job, info


def run_import_job(
    session: Session, job_id: int, data_dir: Path, commit: Callable[[], None]
) -> ImportJob | None:
    """Run a queued import job (the worker's side of the admin upload).

    Progress is committed after every chunk so the admin's progress bar moves; a file that
    turns out unreadable ends the job as ``failed`` with the reason in ``errors``.
    """
    from service.subscribers.tabular import FileFormatError

    job = session.get(ImportJob, job_id)
    if job is None or job.status not in ("queued", "running"):
        return job  # a duplicate or stale message: nothing to do
    job.status = "running"
    commit()
    path = job_path(data_dir, job)
    target = ImportTarget(job.list_id or 0, job.mode, job.filename, job.id)

    def progress(report: ImportReport) -> None:
        assert job is not None
        store_progress(job, report)
        commit()

    try:
        if job.list_id is None:
            raise ImportSetupError(
                "import.list_deleted", "the list was deleted before the import ran"
            )
        report = import_file(session, path, target, job_mapping(job), on_chunk=progress)
    except Exception as exc:
        # Whatever happened, the job must not stay "running" for ever: the page says why.
        # Chunks already committed stay imported (their rows were good).
        expected = isinstance(exc, (FileFormatError, ImportSetupError, OSError))
        if not expected:
            log.exception("import job %s failed", job_id)
        session.rollback()
        job = session.get(ImportJob, job_id)
        assert job is not None
        job.status = "failed"
        job.errors = [row_error(None, message_of(exc) if expected else _stopped(exc))]
    else:
        store_progress(job, report, final=True)
        job.status = "done"
    job.finished_at = utcnow()
    commit()
    path.unlink(missing_ok=True)
    return job


def _stopped(exc: Exception) -> Message:
    # A bug or an outage, not the file: say what broke (the log has the traceback).
    error = f"{type(exc).__name__}: {exc}"[:MAX_STOP_REASON_CHARS]
    return Message.of("import.stopped", "the import stopped: %(error)s", error=error)
