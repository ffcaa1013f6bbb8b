"""The delivery state machine (DESIGN §4): every move a ``deliveries`` row may make, and
the one guarded statement that makes it.

Two domains move deliveries: ``campaigns`` (the ledger and the send core) and ``events``
(a bounce or a complaint changes a row that was sent). Both stand above this floor, so
the table of moves lives here, beside the rows it governs, and no other module writes
``Delivery.status``.

Each move is named for what its caller does. Its guard (``WHERE status IN (sources)``) is
what makes a move that lost a race, a duplicate task message or a late event change
nothing: the caller sees no row moved and names the no-op. A move without sources makes
a new row (its target is what the INSERT writes); a move without targets removes rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Delete, Table, Update, and_, bindparam, delete, or_, update
from sqlalchemy.sql.elements import ColumnElement

from service.model.campaigns import Delivery, DeliveryStatus

S = DeliveryStatus
# The Core table, for statements run with one parameter set per row (``moved_each``).
DELIVERIES = cast(Table, Delivery.__table__)
# The parameter that carries each row's target in ``moved_each``.
STATUS_PARAM = "b_status"


@dataclass(frozen=True)
class DeliveryMove:
    """One named move of a delivery row: from any of ``sources`` to one of ``targets``."""

    name: str
    sources: tuple[DeliveryStatus, ...]
    targets: tuple[DeliveryStatus, ...]
    # A ``retry_due`` row takes this move only once its ``next_attempt_at`` has come.
    when_due: bool = False

    @property
    def target(self) -> DeliveryStatus:
        """The target of a move that has exactly one."""
        if len(self.targets) != 1:
            raise ValueError(f"the move {self.name!r} has {len(self.targets)} targets; name one")
        return self.targets[0]

    def check(self, status: str) -> DeliveryStatus:
        """``status`` as a target of this move; ``ValueError`` when the move has no such end."""
        if status not in self.targets:
            raise ValueError(f"the move {self.name!r} cannot end in {str(status)!r}")
        return DeliveryStatus(status)

    def guard(self, now: datetime | None = None, table: Any = Delivery) -> ColumnElement[bool]:
        """The move's WHERE: the row is in one of its sources (a ``retry_due`` one only once
        due at ``now``). ``table`` is the ORM class, or ``DELIVERIES`` for a Core statement."""
        if not self.sources:
            raise ValueError(f"the move {self.name!r} makes new rows: it is an INSERT")
        columns = table.c if isinstance(table, Table) else table
        if not self.when_due:
            return _one_of(columns.status, self.sources)
        if now is None:
            raise ValueError(f"the move {self.name!r} needs the time: retry_due rows wait for it")
        others = tuple(s for s in self.sources if s != S.RETRY_DUE)
        return or_(
            _one_of(columns.status, others),
            and_(columns.status == S.RETRY_DUE, columns.next_attempt_at <= now),
        )

    def sql_guard(self, column: str) -> str:
        """The same guard for hand-written SQL over ``column`` (e.g. ``"d.status"``)."""
        if self.when_due or not self.sources:
            raise ValueError(f"the move {self.name!r} has no plain SQL guard")
        # The states are this module's own constants, never input: quoting them is safe.
        quoted = [f"'{s}'" for s in self.sources]
        if len(quoted) == 1:
            return f"{column} = {quoted[0]}"
        return f"{column} IN ({', '.join(quoted)})"


def _one_of(column: Any, states: Sequence[DeliveryStatus]) -> ColumnElement[bool]:
    # One state is written as `=`: the statements keep the shape they had (and their plans).
    if len(states) == 1:
        return cast(ColumnElement[bool], column == states[0])
    return cast(ColumnElement[bool], column.in_([str(s) for s in states]))


# ------------------------------------------------------------------ the table

# New rows: `campaign render` reserves one ahead for a campaign not materialized yet;
# materialize makes one per recipient.
RESERVE = DeliveryMove("reserve", (), (S.RESERVED,))
MATERIALIZE = DeliveryMove("materialize", (), (S.PENDING,))
# Materialize: a reserved row whose subscriber is still in the audience takes its place;
# the others are removed (the subscriber left: they get nothing).
CONFIRM_RESERVED = DeliveryMove("confirm reserved", (S.RESERVED,), (S.PENDING,))
DROP_RESERVED = DeliveryMove("drop reserved", (S.RESERVED,), ())
# The pump: due rows are queued, then a worker claims them (the only way to `sending`).
DISPATCH = DeliveryMove("dispatch", (S.PENDING, S.RETRY_DUE), (S.QUEUED,), when_due=True)
CLAIM = DeliveryMove("claim", (S.QUEUED, S.RETRY_DUE), (S.SENDING,), when_due=True)
# A claimed row whose subscriber left, was disabled or suppressed since it was made.
SKIP_UNWANTED = DeliveryMove("skip unwanted", (S.SENDING,), (S.SKIPPED,))
# The send core writes what the relay said.
RECORD = DeliveryMove("record", (S.SENDING,), (S.SENT, S.FAILED, S.RETRY_DUE))
# A batch stopped before these rows: back to pending (paused), or skipped (cancelled).
RELEASE = DeliveryMove("release", (S.SENDING,), (S.PENDING, S.SKIPPED))
# The sweep: a lost queue message; a worker that died mid-batch (never re-sent by itself).
SWEEP_QUEUED = DeliveryMove("sweep queued", (S.QUEUED,), (S.PENDING,))
SWEEP_SENDING = DeliveryMove("sweep sending", (S.SENDING,), (S.UNKNOWN,))
# The sweep settling a dead worker's claim from its begun marks (``campaigns.claims``): a
# row it never began goes back to pending (another worker sends it, once); a row its mark
# says the relay accepted is sent; one begun without an answer takes ``SWEEP_SENDING``.
SETTLE_UNBEGUN = DeliveryMove("settle unbegun", (S.SENDING,), (S.PENDING,))
SETTLE_SENT = DeliveryMove("settle sent", (S.SENDING,), (S.SENT,))
# Campaign actions: resume requeues what paused left queued; cancel skips what has not
# gone out; "resend unknown" is staff deciding those rows should go again.
RESUME = DeliveryMove("resume", (S.QUEUED,), (S.PENDING,))
CANCEL = DeliveryMove("cancel", (S.RESERVED, S.PENDING, S.QUEUED, S.RETRY_DUE), (S.SKIPPED,))
RESEND = DeliveryMove("resend", (S.UNKNOWN,), (S.PENDING,))
# Events: a bounce or complaint proves the message left, so an `unknown` row takes them too.
BOUNCE_SOFT = DeliveryMove("bounce soft", (S.SENT, S.UNKNOWN), (S.BOUNCED_SOFT,))
BOUNCE_HARD = DeliveryMove("bounce hard", (S.SENT, S.UNKNOWN, S.BOUNCED_SOFT), (S.BOUNCED_HARD,))
COMPLAIN = DeliveryMove("complain", (S.SENT, S.UNKNOWN, S.BOUNCED_SOFT), (S.COMPLAINED,))

MOVES = (
    RESERVE,
    MATERIALIZE,
    CONFIRM_RESERVED,
    DROP_RESERVED,
    DISPATCH,
    CLAIM,
    SKIP_UNWANTED,
    RECORD,
    RELEASE,
    SWEEP_QUEUED,
    SWEEP_SENDING,
    SETTLE_UNBEGUN,
    SETTLE_SENT,
    RESUME,
    CANCEL,
    RESEND,
    BOUNCE_SOFT,
    BOUNCE_HARD,
    COMPLAIN,
)
# States of a row whose message left (a bounce or a complaint proves it did): what the
# reports count as sent.
LEFT = (S.SENT, S.BOUNCED_SOFT, S.BOUNCED_HARD, S.COMPLAINED)
# States no move leaves: the row's story is over.
TERMINAL = frozenset({S.FAILED, S.SKIPPED, S.BOUNCED_HARD, S.COMPLAINED})


# ------------------------------------------------------------------ the statements


def moved(
    move: DeliveryMove,
    *where: ColumnElement[bool],
    to: str | None = None,
    now: datetime | None = None,
    **values: object,
) -> Update:
    """The guarded UPDATE of ``move``: rows matching ``where`` that are still in one of its
    sources take ``to`` (the move's only target when not given) and ``values``."""
    target = move.target if to is None else move.check(to)
    return update(Delivery).where(move.guard(now), *where).values(status=str(target), **values)


def moved_each(move: DeliveryMove, *where: ColumnElement[bool], **values: object) -> Update:
    """The guarded UPDATE of ``move`` for many parameter sets at once, each naming its row's
    target as ``b_status`` (``check`` each first).

    A Core statement on ``DELIVERIES``: given a list of parameter sets, an ORM one would
    turn into SQLAlchemy's bulk UPDATE by primary key instead.
    """
    return (
        update(DELIVERIES)
        .where(move.guard(table=DELIVERIES), *where)
        .values(status=bindparam(STATUS_PARAM), **values)
    )


def removed(move: DeliveryMove, *where: ColumnElement[bool]) -> Delete:
    """The guarded DELETE of a move that ends a row (``DROP_RESERVED``)."""
    if move.targets:
        raise ValueError(f"the move {move.name!r} keeps its rows")
    return delete(Delivery).where(move.guard(), *where)
