"""Writing one planned chunk of an import: the new subscribers, their memberships and
"import" consent rows, and the profile updates, at most four bulk statements a chunk
(plus a lookup of the chunk's companies, and an insert of those not seen before).

The statements are fixed texts (one per database) whatever the chunk holds, so neither
psycopg nor SQLite prepares a new one per chunk. Kept apart from planning because a plan
is written on whichever connection is free (``importer``), never where it was made.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, text, update
from sqlalchemy.orm import Session

from service.db import is_postgresql
from service.model import MembershipStatus, Subscriber, SubscriberStatus, UTCDateTime, utcnow
from service.subscribers import organisations
from service.subscribers.consent import CONSENT_TEXT_VERSION
from service.subscribers.import_params import PG_SEPARATOR, joined
from service.subscribers.import_plan import ChunkPlan
from service.subscribers.import_rows import Candidate
from service.subscribers.import_terms import ImportTarget
from service.subscribers.organisation_names import name_key

DEFAULT_LANGUAGE = "zh-CN"
IMPORT_CONSENT_BASIS = "prior consent asserted by the importing staff member"
# The profile updates ("add and update") are a Core executemany, not ORM objects.
SUBSCRIBERS = cast(Table, Subscriber.__table__)

# PostgreSQL gets each chunk's new subscribers as one JSON document: json.dumps and the
# server's parser are both C, while nine thousand placeholders cost psycopg and the
# planner far more. (One statement with data-modifying CTEs for all three tables was
# tried and measured slower: the deferred foreign-key checks pile up.)
PG_INSERT_SUBSCRIBERS = text(
    """
    INSERT INTO subscribers
        (email, email_ascii, name, organisation, organisation_id, language, attributes,
         status, created_at, updated_at)
    SELECT email, email_ascii, name, organisation, organisation_id, language, attributes,
        :status, :stamp, :stamp
    FROM json_to_recordset(CAST(:rows AS JSON)) AS t(
        email TEXT, email_ascii TEXT, name TEXT, organisation TEXT, organisation_id INTEGER,
        language TEXT, attributes JSON)
    RETURNING id, email
    """
)
# SQLite: the same shape with json_each(): one statement text whatever the chunk holds.
SQLITE_INSERT_SUBSCRIBERS = text(
    """
    INSERT INTO subscribers
        (email, email_ascii, name, organisation, organisation_id, language, attributes,
         status, created_at, updated_at)
    SELECT json_extract(value, '$.email'), json_extract(value, '$.email_ascii'),
        json_extract(value, '$.name'), json_extract(value, '$.organisation'),
        json_extract(value, '$.organisation_id'), json_extract(value, '$.language'),
        json_extract(value, '$.attributes'), :status, :stamp, :stamp
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


def write_plan(session: Session, plan: ChunkPlan, target: ImportTarget) -> int:
    """Write a planned chunk (uncommitted); return how many people joined the list."""
    organisations = _organisations(session, plan)
    ids = _insert_subscribers(session, plan.new, organisations, target.started)
    join = plan.join + [ids[email] for email in plan.join_new]
    _insert_memberships(session, join, target)
    _update_profiles(session, plan.updates, organisations, target.started)
    return len(join)


def _organisations(session: Session, plan: ChunkPlan) -> dict[str, int]:
    """The organisation id of every folded company name the chunk writes (one lookup,
    and one insert for the companies not seen before)."""
    names = [c.profile.get("organisation", "") for c in plan.new]
    names += [u["b_organisation"] for u in plan.updates]
    return organisations.resolve(session, names)


def _subscriber_rows(new: list[Candidate], orgs: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "email": c.address.email,
            "email_ascii": c.address.email_ascii,
            "name": c.profile.get("name", ""),
            "organisation": c.profile.get("organisation", ""),
            "organisation_id": orgs.get(name_key(c.profile.get("organisation", ""))),
            "language": c.profile.get("language", DEFAULT_LANGUAGE),
            "attributes": c.attributes,
        }
        for c in new
    ]


def _insert_subscribers(
    session: Session, new: list[Candidate], orgs: dict[str, int], stamp: datetime
) -> dict[str, int]:
    if not new:
        return {}
    statement = PG_INSERT_SUBSCRIBERS if is_postgresql(session) else SQLITE_INSERT_SUBSCRIBERS
    result = session.execute(
        statement,
        {
            "status": SubscriberStatus.ENABLED.value,
            "stamp": stamp,
            "rows": json.dumps(_subscriber_rows(new, orgs), ensure_ascii=False),
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
    postgresql = is_postgresql(session)
    common = {
        "ids": joined(ids) if postgresql else json.dumps(ids),
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


def _update_profiles(
    session: Session, updates: list[dict[str, Any]], orgs: dict[str, int], stamp: datetime
) -> None:
    if not updates:
        return
    for row in updates:
        row["b_organisation_id"] = orgs.get(name_key(row["b_organisation"]))
    statement = (
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.id == bindparam("b_id"))
        .values(
            name=bindparam("b_name"),
            organisation=bindparam("b_organisation"),
            organisation_id=bindparam("b_organisation_id"),
            language=bindparam("b_language"),
            attributes=bindparam("b_attributes", type_=SUBSCRIBERS.c.attributes.type),
            updated_at=stamp,
        )
    )
    session.connection().execute(statement, updates)
