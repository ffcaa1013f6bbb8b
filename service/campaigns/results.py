"""Result writes: what the relay said about each row, into the ledger, a group at a time.

Results are written with one UPDATE per commit group (see ``sender``'s COMMIT GROUPS),
guarded by the ``RECORD`` move: only rows still ``sending`` take an outcome, so a row the
sweep made ``unknown``, or that staff resent meanwhile, keeps what happened to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, text
from sqlalchemy.orm import Session

from service.db import is_postgresql
from service.model.delivery_states import DELIVERIES, RECORD, STATUS_PARAM, moved_each

# How much of a relay's answer a row keeps as its last error.
MAX_ERROR_CHARS = 2000


@dataclass
class Outcome:
    """The result of one row, written with its commit group."""

    delivery_id: int
    status: str
    message_id: str | None = None
    error: str | None = None
    attempted: bool = True
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None


def record_outcomes(session: Session, outcomes: list[Outcome]) -> None:
    """Write a group of outcomes (guarded: only rows still ``sending``) and commit."""
    if not outcomes:
        return
    rows = [
        {
            "b_id": o.delivery_id,
            STATUS_PARAM: str(RECORD.check(o.status)),
            "b_inc": 1 if o.attempted else 0,
            "b_next": o.next_attempt_at,
            "b_sent": o.sent_at,
            "b_mid": o.message_id,
            "b_err": (o.error or "")[:MAX_ERROR_CHARS] or None,
        }
        for o in outcomes
    ]
    if is_postgresql(session):
        # One statement for the group: fifty single-row UPDATEs cost the server (and
        # psycopg) a statement each.
        session.execute(PG_RECORD, {key: [r[key] for r in rows] for key in rows[0]})
    else:
        session.execute(RECORD_EACH, rows)
    session.commit()


_COLUMNS = DELIVERIES.c
RECORD_EACH = moved_each(
    RECORD,
    _COLUMNS.id == bindparam("b_id"),
    attempts=_COLUMNS.attempts + bindparam("b_inc"),
    next_attempt_at=bindparam("b_next"),
    sent_at=bindparam("b_sent"),
    message_id=bindparam("b_mid"),
    # A row sent after a retry keeps the error of its last failed attempt.
    last_error=func.coalesce(bindparam("b_err"), _COLUMNS.last_error),
)

# RECORD_EACH for a whole group in one statement, from parallel arrays (PostgreSQL).
PG_RECORD = text(
    f"""
    UPDATE deliveries AS d SET
        status = v.status,
        attempts = d.attempts + v.inc,
        next_attempt_at = v.next_at,
        sent_at = v.sent_at,
        message_id = v.mid,
        -- a row sent after a retry keeps the error of its last failed attempt
        last_error = coalesce(v.err, d.last_error)
    FROM unnest(
        CAST(:b_id AS INTEGER[]), CAST(:{STATUS_PARAM} AS VARCHAR[]), CAST(:b_inc AS INTEGER[]),
        CAST(:b_next AS TIMESTAMPTZ[]), CAST(:b_sent AS TIMESTAMPTZ[]),
        CAST(:b_mid AS VARCHAR[]), CAST(:b_err AS VARCHAR[])
    ) AS v(id, status, inc, next_at, sent_at, mid, err)
    WHERE d.id = v.id AND {RECORD.sql_guard("d.status")}
    """
)
