"""Checking one row of an import file: its address, name, organisation, language and
attributes, into a ``Candidate`` or a row error with its line number.

Pure Python, no database: everything here runs once per row (on the reader thread), so
it is kept apart from the per-chunk lookups and writes, and kept cheap (the domain check
is cached, see ``check_address``).
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from dataclasses import dataclass

from service.errors import Message
from service.mail.addresses import Address, InvalidAddress, normalise
from service.subscribers.import_columns import ATTRIBUTE, CORE_FIELDS, IGNORE
from service.subscribers.import_terms import ImportReport, row_error

NAME_MAX = 200
ATTRIBUTE_MAX = 1000
LANGUAGE_MAX = 16
SHOWN_VALUE_MAX = 80
DOMAIN_CACHE_SIZE = 10_000
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


@dataclass
class Candidate:
    """A row that passed validation, waiting for its chunk to be written."""

    line: int
    address: Address
    profile: dict[str, str]  # name, organisation, language (only the ones given)
    attributes: dict[str, str]


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
            cached = copy.copy(exc)  # its message only: no traceback, no frames kept alive
        _domains[domain] = cached
        if len(_domains) > DOMAIN_CACHE_SIZE:
            _domains.popitem(last=False)
    if isinstance(cached, InvalidAddress):
        # A fresh copy each time: raising the cached exception itself would add every
        # row's frames (cells, report and all) to its traceback, for the worker's life.
        raise copy.copy(cached)
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
                    attributes[key] = _clean(cell, self.report, limit=ATTRIBUTE_MAX)
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
