"""Claims: who holds a batch while it is sent, and what the sweep does when that one dies.

The promise (issue 14): when a worker dies mid-batch, only the messages it had on the
wire may end ``unknown``; the rows of its batch it had not begun go out again from another
worker, once, and that is noticed within seconds.

* ``open_claim`` gives every claimed batch a ``send_claims`` row (committed with the
  claim UPDATE) and a Redis list of marks named by its token, headed by ``c``.
* While it sends, a ``Heartbeat`` thread refreshes the claim's ``beat_at`` in the ledger
  every ``heartbeat_seconds``. A thread, because one SMTP reply may take a minute: a beat
  between messages would make a slow relay look like a dead worker.
* Before the MAIL FROM of each message the sender writes ``b<id>`` ("begun") to the list,
  in the same RPUSHX as the outcome of the previous message(s): ``s<id> <time> <msg-id>``
  (the relay accepted it) or ``n<id>`` (it did not go: refused, deferred). One round
  trip per message; the outcomes are only needed until the next group commit writes them
  to the ledger, and RPUSHX fails on a list the sweep has taken, so a worker that was
  wrongly thought dead stops before its next message instead of sending it twice.
* ``settle_dead_claims`` (the sweep, every few seconds) takes each claim whose beat is
  older than ``worker_dead_seconds``: it deletes the claim row (so one sweeper wins),
  takes the marks list atomically (LRANGE + DEL: the fence), and settles the claim's rows
  still ``sending``: marked sent → ``sent``; never begun, or marked not sent → ``pending``;
  begun with no outcome → ``unknown`` (at most one per connection: the message on the
  wire when the worker died).

When the marks cannot be trusted the answer is ``unknown`` for every row, never a blind
resend: no list (Redis was unreachable at the claim, lost or expired since), no ``c`` at
its head, or a Redis ``run_id`` other than the one recorded at the claim (Redis restarted,
perhaps from an older snapshot, so the list may lack marks that were written).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import redis
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from service.model import Delivery, DeliveryStatus, SendClaim, utcnow
from service.model.delivery_states import SETTLE_SENT, SETTLE_UNBEGUN, SWEEP_SENDING, moved

log = logging.getLogger(__name__)

MARKS_PREFIX = "tidings:marks:"
# A marks list outlives its batch by far (the sweep needs it only until it settles the
# claim); one left by a crash between claim and settlement expires by itself.
MARKS_TTL_SECONDS = 2 * 24 * 3600
HEAD = "c"
BEGUN, SENT, NOT_SENT = "b", "s", "n"
UNTRUSTED = "the worker stopped while sending; the message may or may not have left"
IN_FLIGHT = "the worker stopped during this message's SMTP transaction; it may or may not have left"


def marks_key(token: str) -> str:
    """The Redis list of a claim's marks."""
    return MARKS_PREFIX + token


def new_token() -> str:
    """A claim token: this process (host and pid, for the logs) and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@lru_cache(maxsize=4)
def redis_for(url: str) -> redis.Redis:
    """A Redis client for the sweep (one per URL and process)."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# ------------------------------------------------------------------ the worker's side


@dataclass
class Claim:
    """A batch's claim: its row id, its token, and whether its marks list was made."""

    id: int
    token: str
    marked: bool


def open_claim(session: Session, client: redis.Redis, campaign_id: int) -> Claim:
    """Make the marks list, then add (not commit) the claim row: the claim UPDATE that
    follows commits both. Redis unreachable: the batch is sent without marks, and a death
    makes its unresulted rows ``unknown`` (as before marks existed)."""
    token = new_token()
    run_id: str | None = None
    try:
        pipe = client.pipeline(transaction=False)
        pipe.rpush(marks_key(token), HEAD)
        pipe.expire(marks_key(token), MARKS_TTL_SECONDS)
        pipe.info("server")
        run_id = str(pipe.execute()[2]["run_id"])
    except (redis.RedisError, OSError, KeyError):
        log.warning("no begun marks for this batch: Redis unreachable", exc_info=True)
    row = SendClaim(campaign_id=campaign_id, token=token, redis_run_id=run_id)
    session.add(row)
    session.flush()
    return Claim(row.id, token, marked=run_id is not None)


def close_claim(session: Session, client: redis.Redis, claim: Claim) -> None:
    """The batch ended with every row recorded: drop its claim and marks; commits."""
    session.execute(delete(SendClaim).where(SendClaim.id == claim.id))
    session.commit()
    try:
        client.delete(marks_key(claim.token))
    except (redis.RedisError, OSError):
        pass  # it expires by itself


class Marks:
    """The begun marks of one batch (see the module docstring).

    ``announce`` sends a message's mark without waiting; ``confirm`` reads Redis's answer
    and must say yes before the message's MAIL FROM. Between the two the sender builds and
    signs the message, so the round trip costs no waiting (a blocking RPUSHX per message
    cost ≈ 0.12 ms of worker CPU and a fifth of the rate on the 2-core bench machine).
    The batch keeps one Redis connection of its own for this; ``close`` gives it back.
    """

    def __init__(self, client: redis.Redis, claim: Claim) -> None:
        self.pool = client.connection_pool
        self.key = marks_key(claim.token)
        self.enabled = claim.marked
        self.outcomes: list[str] = []
        self.conn: redis.connection.AbstractConnection | None = None
        self.awaiting = False  # a mark was sent and its answer not read yet
        self.ok = True  # the last answer read said the mark was written

    def announce(self, delivery_id: int) -> None:
        """Send the begun mark of ``delivery_id`` with the outcomes noted since the last
        one (call ``confirm`` before its MAIL FROM)."""
        if not self.enabled:
            return
        self._answer()
        try:
            if self.conn is None:
                self.conn = self.pool.get_connection()
            self.conn.send_command("RPUSHX", self.key, *self.outcomes, f"{BEGUN}{delivery_id}")
        except (redis.RedisError, OSError):
            self._broken()
            return
        self.outcomes = []
        self.awaiting = True

    def confirm(self) -> bool:
        """Whether the last announced mark is written. False: the list is gone (Redis lost
        it, or the sweep took it) or Redis did not answer — the message must not go."""
        if not self.enabled:
            return True
        if not self.awaiting:
            return False  # announced nothing, or the announce itself failed
        self._answer()
        return self.ok

    def begin(self, delivery_id: int) -> bool:
        """``announce`` then ``confirm`` (one blocking round trip)."""
        self.announce(delivery_id)
        return self.confirm()

    def _answer(self) -> None:
        if not self.awaiting or self.conn is None:
            return
        self.awaiting = False
        try:
            self.ok = bool(self.conn.read_response())
        except (redis.RedisError, OSError):
            self._broken()

    def _broken(self) -> None:
        self.ok = False
        self.awaiting = False
        if self.conn is not None:
            self.conn.disconnect()
            self.pool.release(self.conn)
            self.conn = None

    def close(self) -> None:
        """Write the outcomes the ledger has not recorded (a batch stopped by an error may
        not have written them), read any answer still due, give the connection back."""
        self._answer()
        if self.outcomes and self.ok and self.conn is not None:
            try:
                self.conn.send_command("RPUSHX", self.key, *self.outcomes)
                self.conn.read_response()
            except (redis.RedisError, OSError):
                self._broken()
        if self.conn is not None:
            self.pool.release(self.conn)
            self.conn = None

    def sent(self, delivery_id: int, at: datetime, message_id: str) -> None:
        """The relay accepted the message (written with the next mark)."""
        if self.enabled:
            self.outcomes.append(f"{SENT}{delivery_id} {at.timestamp():.6f} {message_id}")

    def not_sent(self, delivery_id: int) -> None:
        """The message did not go (refused, deferred, never built)."""
        if self.enabled:
            self.outcomes.append(f"{NOT_SENT}{delivery_id}")

    def recorded(self) -> None:
        """The ledger now holds every outcome noted so far: they need not be written."""
        self.outcomes = []


class Heartbeat:
    """Refreshes a claim's ``beat_at`` every ``every`` seconds from a thread, until
    ``stop``. Its own connection: the batch's session is busy on the worker's thread."""

    def __init__(self, bind: Engine, claim_id: int, every: float) -> None:
        self.bind = bind
        self.claim_id = claim_id
        self.every = every
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"claim-{claim_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                with Session(self.bind) as session:
                    session.execute(
                        update(SendClaim)
                        .where(SendClaim.id == self.claim_id)
                        .values(beat_at=utcnow())
                    )
                    session.commit()
            except Exception:  # noqa: BLE001 - a missed beat is retried; enough of them
                # and the sweep settles the claim, which the marks fence makes safe.
                log.warning("claim %s: heartbeat not written", self.claim_id, exc_info=True)


# ------------------------------------------------------------------ the sweep's side


@dataclass
class Settlement:
    """What becomes of a dead claim's rows still ``sending``."""

    sent: dict[int, tuple[datetime, str]] = field(default_factory=dict)
    unbegun: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)


def settle(entries: Sequence[bytes | str] | None, rows: Sequence[int], trusted: bool) -> Settlement:
    """Decide each row from the claim's marks (``None``: no list). ``trusted`` is False when
    Redis restarted since the claim (or there was none): then every row is ``unknown``."""
    marks = [_text(e) for e in entries or ()]
    if not trusted or not marks or marks[0] != HEAD:
        return Settlement(unknown=sorted(rows))
    state: dict[int, str] = {}
    sent: dict[int, tuple[datetime, str]] = {}
    for mark in marks[1:]:
        kind, rest = mark[0], mark[1:]
        if kind == SENT:
            ident, at, message_id = rest.split(" ", 2)
            sent[int(ident)] = (datetime.fromtimestamp(float(at), UTC), message_id)
        state[int(rest.split(" ", 1)[0])] = kind
    result = Settlement()
    for row in sorted(rows):
        kind = state.get(row, NOT_SENT)
        if kind == SENT:
            result.sent[row] = sent[row]
        elif kind == BEGUN:
            result.unknown.append(row)
        else:
            result.unbegun.append(row)
    return result


def take_marks(client: redis.Redis, token: str) -> tuple[list[bytes | str] | None, str]:
    """The claim's marks, removed in the same transaction (the fence), and Redis's run_id."""
    run_id = str(client.info("server")["run_id"])
    pipe = client.pipeline(transaction=True)
    pipe.lrange(marks_key(token), 0, -1)
    pipe.delete(marks_key(token))
    entries, _ = pipe.execute()
    return (list(entries) or None), run_id


@dataclass
class SettleResult:
    """What one pass over the dead claims changed."""

    claims: int = 0
    requeued: int = 0
    sent: int = 0
    unknown: int = 0


def settle_dead_claims(
    session: Session, client: redis.Redis, dead_after: timedelta
) -> SettleResult:
    """Settle every claim whose heartbeat is older than ``dead_after``; commits per claim.

    A claim whose marks cannot be read now (Redis unreachable) is left for the next pass.
    """
    cutoff = utcnow() - dead_after
    dead = list(session.scalars(select(SendClaim).where(SendClaim.beat_at < cutoff)))
    session.commit()
    result = SettleResult()
    for claim in dead:
        try:
            settled = _settle_one(
                session, client, claim.id, claim.token, claim.redis_run_id, cutoff
            )
        except (redis.RedisError, OSError):
            session.rollback()
            log.warning("claim %s: marks unreadable, settled later", claim.token, exc_info=True)
            continue
        if settled is None:
            continue
        result.claims += 1
        result.requeued += len(settled.unbegun)
        result.sent += len(settled.sent)
        result.unknown += len(settled.unknown)
        log.warning(
            "claim %s stopped beating: %d rows back to pending, %d sent, %d unknown",
            claim.token,
            len(settled.unbegun),
            len(settled.sent),
            len(settled.unknown),
        )
    return result


def _settle_one(
    session: Session,
    client: redis.Redis,
    claim_id: int,
    token: str,
    run_id: str | None,
    cutoff: datetime,
) -> Settlement | None:
    # Deleting the claim first (guarded by its beat) makes this sweeper the only one to
    # settle it, and leaves alone a claim that beat again meanwhile.
    gone = session.execute(
        delete(SendClaim).where(SendClaim.id == claim_id, SendClaim.beat_at < cutoff)
    ).rowcount  # type: ignore[attr-defined]
    if not gone:
        session.rollback()
        return None
    rows = list(
        session.scalars(
            select(Delivery.id).where(
                Delivery.claim_id == claim_id, Delivery.status == DeliveryStatus.SENDING
            )
        )
    )
    entries, now_run_id = take_marks(client, token)
    plan = settle(entries, rows, trusted=run_id is not None and run_id == now_run_id)
    _apply(session, plan, entries is not None and run_id == now_run_id)
    session.commit()
    return plan


def _apply(session: Session, plan: Settlement, trusted: bool) -> None:
    for row, (at, message_id) in plan.sent.items():
        session.execute(
            moved(
                SETTLE_SENT,
                Delivery.id == row,
                sent_at=at,
                message_id=message_id,
                attempts=Delivery.attempts + 1,
            )
        )
    if plan.unbegun:
        session.execute(
            moved(SETTLE_UNBEGUN, Delivery.id.in_(plan.unbegun), queued_at=None, claim_id=None)
        )
    if plan.unknown:
        session.execute(
            moved(
                SWEEP_SENDING,
                Delivery.id.in_(plan.unknown),
                last_error=IN_FLIGHT if trusted else UNTRUSTED,
            )
        )
