"""Deciding, per chunk of an import, what each row becomes: new, updated, unchanged,
skipped (unsubscribed, erased, suppressed) or a duplicate of an earlier line.

Three lookups per chunk (existing subscribers, suppressions, memberships of the list) and
no writes: a plan is made on the importing session and may be written on another
connection (``importer``), so deciding and writing are kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Session

from service.errors import Message
from service.mail.addresses import email_hash
from service.model import Membership, MembershipStatus, Subscriber, SubscriberStatus, Suppression
from service.subscribers.import_params import one_of
from service.subscribers.import_rows import Candidate
from service.subscribers.import_terms import ImportReport, ImportTarget, row_error


@dataclass
class ChunkPlan:
    """What one chunk will write, decided from the lookup (no writes yet)."""

    new: list[Candidate] = field(default_factory=list)
    join: list[int] = field(default_factory=list)  # known people who join the list
    join_new: list[str] = field(default_factory=list)  # new people, by address
    updates: list[dict[str, Any]] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)  # every address the chunk holds


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
            ).where(one_of(session, Subscriber.email, emails, String))
        )
    }
    hashes = {email: email_hash(email) for email in emails}
    suppressed = set(
        session.scalars(
            select(Suppression.email_hash).where(
                one_of(session, Suppression.email_hash, list(hashes.values()), String)
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
                    one_of(session, Membership.subscriber_id, known, Integer),
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


def plan_chunk(
    session: Session,
    chunk: list[Candidate],
    target: ImportTarget,
    report: ImportReport,
    in_flight: set[str],
) -> ChunkPlan:
    """Look the chunk up and sort its rows into writes and report lines.

    ``in_flight`` holds the addresses of chunks still being written by other
    connections: the lookup cannot see those rows yet, so an address among them is a
    duplicate of an earlier line, exactly as one already in the database with this
    import's stamp is.
    """
    plan = ChunkPlan()
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


def _merged(row: Any, cand: Candidate) -> dict[str, Any] | None:
    # "Add and update": a non-empty cell replaces the stored value; an empty one keeps it.
    # The b_ keys are the bind parameters of import_writes' profile update.
    current = {"name": row.name, "organisation": row.organisation, "language": row.language}
    wanted = {**current, **cand.profile}
    attributes = {**(row.attributes or {}), **cand.attributes}
    if wanted == current and attributes == (row.attributes or {}):
        return None
    return {"b_id": row.id, **{f"b_{k}": v for k, v in wanted.items()}, "b_attributes": attributes}
