"""Counting a campaign at the relay: what the crash-safety tests, the faults-across-hosts
test and ``bench/faults.py`` all check of the sink's copies against the ledger's rows.

Tests and benchmarks import this module; it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from service.campaigns.claims import SettleResult
from tests.integration.campaigns.conftest import Harness
from tests.integration.campaigns.sink import Sink

# Test-lowered heartbeat knobs (sending settings): a claim beats every 0.3 s and is dead
# after 2 s without a beat. The stale-row sweep stays at an hour: only the heartbeat may
# release anything here.
FAST_DEATH = {"heartbeat_seconds": 0.3, "worker_dead_seconds": 2}


def finished(p: dict[str, object]) -> bool:
    """The campaign is done according to the ledger."""
    return p["status"] == "finished"


def holding_rows(p: dict[str, object]) -> bool:
    """Some rows sent, and some claimed and not yet recorded: a kill now lands mid-batch."""
    return int(p["sent"]) >= 400 and int(p["sending"]) > 0  # type: ignore[call-overload]


def settled_total(h: Harness) -> SettleResult:
    """What the ticks so far settled of dead workers' claims, added up."""
    total = SettleResult()
    for one in h.settled:
        total.claims += one.claims
        total.requeued += one.requeued
        total.sent += one.sent
        total.unknown += one.unknown
    return total


def assert_exactly_once(h: Harness, sink: Sink, campaign_id: int) -> dict[str, int]:
    """Every `sent` row was received exactly once, nothing else more than once.

    Returns the statuses counted. ``unknown`` rows may have been received once or never.
    """
    counts = sink.state.counts()
    by_status: dict[str, int] = {}
    for row in h.rows(campaign_id):
        by_status[row.status] = by_status.get(row.status, 0) + 1
        got = counts.get(row.email, 0)
        if row.status == "sent":
            assert got == 1, f"{row.email} ({row.status}) received {got} messages"
        elif row.status == "unknown":
            assert got <= 1, f"{row.email} (unknown) received {got} messages"
        else:
            assert got == 0, f"{row.email} ({row.status}) received {got} messages"
    assert max(counts.values(), default=0) <= 1
    return by_status


def audience(h: Harness) -> list[str]:
    """The addresses of the active members of list "members"."""
    from service.model import MailingList, Membership, Subscriber

    with h.session() as s:
        return list(
            s.scalars(
                select(Subscriber.email)
                .join(Membership, Membership.subscriber_id == Subscriber.id)
                .join(MailingList, MailingList.id == Membership.list_id)
                .where(MailingList.slug == "members", Membership.status == "active")
            )
        )


@dataclass
class Row:
    """One campaign counted per recipient of its audience (a line of bench/faults.py's
    table): **once** (exactly one copy accepted); **lost** (no row, or a row neither
    ``unknown`` nor failed by design whose message the sink never accepted); **duplicated**
    (more than one copy, unless the row says it was resent by "resend unknown" and every
    copy carries the same Message-ID); **unknown** (and how many of those the sink did
    accept) against the sink connections the fault could cut."""

    scenario: str
    database: str
    recipients: int = 0
    once: int = 0
    lost: int = 0
    duplicated: int = 0
    unknown: int = 0
    unknown_received: int = 0
    open_connections: int | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The verdict: ``ok``, or ``NOT OK`` with why."""
        return "ok" if not self.problems else "NOT OK: " + "; ".join(self.problems)


def tally(
    h: Harness,
    sink: Sink,
    campaign_id: int,
    recipients: list[str],
    row: Row,
    failed_by_design: frozenset[str] = frozenset(),
) -> None:
    """Count the sink's copies against the ledger's rows for ``recipients`` into ``row``."""
    with sink.state.lock:
        received = {k: list(v) for k, v in sink.state.received.items()}
    rows = {r.email: r for r in h.rows(campaign_id)}
    row.recipients = len(recipients)
    for email in recipients:
        ids, r = received.get(email, []), rows.get(email)
        row.once += len(ids) == 1
        if r is not None and r.status == "unknown":
            row.unknown += 1
            row.unknown_received += bool(ids)
        elif r is None or (not ids and not (r.status == "failed" and email in failed_by_design)):
            row.lost += 1
        if len(ids) > 1 and not reported_resend(r, ids):
            row.duplicated += 1
    strays = set(received) - set(recipients)
    if strays:
        row.problems.append(f"{len(strays)} addresses outside the audience received mail")
    if failed_by_design & {e for e, ids in received.items() if ids}:
        row.problems.append("a refused address was counted as accepted")


def reported_resend(row: object, ids: list[str]) -> bool:
    """The extra copies are resends the ledger counts, all under the first Message-ID (a
    new Message-ID would make the mailbox keep both)."""
    resends = getattr(row, "resends", 0) or 0
    return resends >= len(ids) - 1 and len(set(ids)) == 1


def judge(row: Row, status: str) -> None:
    """The checks every counted campaign shares: finished, nothing lost or silently
    duplicated, no more unknown than the connections the fault could cut."""
    if status != "finished":
        row.problems.append(f"campaign {status}")
    if row.lost:
        row.problems.append(f"{row.lost} lost")
    if row.duplicated:
        row.problems.append(f"{row.duplicated} silent duplicates")
    if row.unknown > (row.open_connections or 0):
        row.problems.append("more unknown than open connections at the fault")
