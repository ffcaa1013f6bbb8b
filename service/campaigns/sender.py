"""The send core: claim a batch, then send it over one connection, recording as it goes.

``send_batch`` is what the ``tidings.send.batch`` task runs. Its promise, together with the
ledger: a row is handed to SMTP only after this worker won it with the guarded claim, and
its result is committed right after (in small groups, see ``COMMIT GROUPS`` below), so a
crash can leave at most the rows of one batch in ``sending``. Each claim beats while it
sends and each message is marked begun before its MAIL FROM (``claims``): when the worker
dies, the sweep sends again the rows it never began, records the ones its marks say were
accepted, and reports only the message on the wire as ``unknown``. Messages are built by
``personalise``, results written by ``results``, and too many transport failures in a
row trip ``brake``.

PROVIDER QUEUES (issue 17, item 5). Each recipient's domain belongs to a provider queue:
its mailbox provider (``mail.providers``: the consumer table, or the cached MX of a
company domain, looked up once per batch, never by DNS here), else the domain itself.
The throttle keeps a window per provider with a preset and a shared pause per queue. A
reply that means "slow down" (``mail.provider_replies``; for a provider with a preset,
any 4xx the table does not know too) pauses that queue for every worker and puts the
row back as ``retry_due`` for after the pause, with an attempt counted (the report's
``deferred``); it is never a bounce, suppresses nobody and does not feed the error
brake. The batch goes on at once with the other queues' rows; the paused queue's rows
are deferred to the pause's end without being tried.

COMMIT GROUPS (the README trade-off). Results are written with one executemany UPDATE per
group of ``commit_group`` messages (default 20) instead of one commit per message. A
commit per message costs a database round trip and an fsync-ish write per message, which
caps SQLite at a few hundred messages per second across workers; a group commit costs the
same once per 20 messages. What it costs in safety: nothing since the begun marks: the
outcome of each message rides to Redis with the next message's begun mark, so the sweep
records the up-to-20 rows of a dead worker's current group that went out but were not
yet committed as ``sent`` from the marks.

BUILT AHEAD (issue 18). Once a message's content is written, the relay reads and checks
it, some 0.2 ms for 60 KB, while the worker would only wait for its reply. The next
row's message is built and signed in that time (``Transport.send``'s ``meanwhile``, on
the pipelining client) and kept in memory for its turn; nothing else about that row
moves early. Its begun mark still goes to Redis in its own turn, after this message's
reply is read, so a worker that dies meanwhile leaves it unmarked and it is sent again;
a row the throttle or a stop then holds back just drops the built bytes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import redis
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from service.campaigns.brake import ErrorBrake, pause_campaign, refusal_reason, trip
from service.campaigns.claims import Claim, Heartbeat, Marks, close_claim, open_claim
from service.campaigns.ledger import claim
from service.campaigns.personalise import CampaignContext, Recipient, context_for, load_recipients
from service.campaigns.results import Outcome, record_outcomes
from service.config import Settings
from service.errors import Message
from service.events.policy import record_smtp_refusal, smtp_refusal_kind
from service.mail.backends import PermanentSendError, SendError, TransientSendError
from service.mail.message_addresses import NeedsSMTPUTF8
from service.mail.provider_replies import SLOW_DOWN, TEMPORARY, meaning_of
from service.mail.providers import known_providers
from service.mail.relays import RelayPool, supports_smtputf8
from service.mail.sending_config import SendingConfig, get_sending_config, provider_presets
from service.mail.throttle import Throttle
from service.mail.transport import (
    ConnectRefused,
    Transport,
    checkin_transport,
    checkout_transport,
    relay_pool,
)
from service.model import Campaign, CampaignStatus, Delivery, DeliveryStatus, utcnow
from service.model.delivery_states import RELEASE, moved

log = logging.getLogger(__name__)

# A throttle wait longer than this defers the row instead of holding the worker.
THROTTLE_DEFER_SECONDS = 2.0
# Redis unreachable while throttling: retry this long, then give the rest of the batch back.
REDIS_GRACE_SECONDS = 10.0
REDIS_RETRY_SLEEP = 0.5
# Connection failures in a row within one batch after which the batch gives up.
BATCH_CONNECT_FAILURES = 2
# A row a provider keeps asking us to slow down for gives up after this many times the
# attempts of an ordinary temporary failure: the pauses grow to an hour, so the default
# (8 attempts) gives a provider about a day to let us through.
SLOW_DOWN_ATTEMPTS_FACTOR = 3


def backoff_delay(attempt: int, config: SendingConfig, rng: random.Random | None = None) -> float:
    """Seconds before retry number ``attempt`` (1-based): exponential, capped, jittered."""
    rng = rng or random.Random()
    base = min(config.retry_max_seconds, config.retry_base_seconds * (2 ** max(0, attempt - 1)))
    return base * rng.uniform(1 - config.retry_jitter, 1 + config.retry_jitter)


@dataclass
class BatchResult:
    """What one batch did (for logs and tests)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retry: int = 0
    deferred: int = 0
    released: int = 0
    slowed: int = 0  # rows a provider asked us to slow down for (also in ``retry``)
    braked: bool = False


class _Batch:
    """State of one running batch; ``run`` is the loop."""

    def __init__(
        self,
        session: Session,
        ctx: CampaignContext,
        config: SendingConfig,
        client: redis.Redis,
        transport: Transport,
        marks: Marks,
        queues: dict[str, str] | None = None,
    ) -> None:
        self.session = session
        self.marks = marks
        self.ctx = ctx
        self.config = config
        self.throttle = Throttle.from_settings(
            client,
            config.global_rate,
            config.domain_limits,
            provider_presets(ctx.settings, config),
        )
        # Recipient domain → its provider queue (see PROVIDER QUEUES); else the domain.
        self.queues = queues or {}
        self.brake = ErrorBrake(client, ctx.campaign_id, config.error_brake)
        self.transport = transport
        self.pending: list[Outcome] = []
        self.result = BatchResult()
        self.connect_failures = 0
        # The next row's message, built while the relay read this one (see BUILT AHEAD).
        self.ahead: tuple[int, bytes | Exception] | None = None

    def run(self, recipients: list[Recipient]) -> BatchResult:
        index = -1
        try:
            for index, recipient in enumerate(recipients):
                if index and index % self.config.commit_group == 0:
                    self.flush()
                    if not self.still_running():
                        self.release(recipients[index:], "campaign no longer running")
                        break
                following = recipients[index + 1] if index + 1 < len(recipients) else None
                try:
                    stop = self.one(recipient, following)
                except ConnectRefused as exc:
                    self.refused(recipients[index:], exc)
                    break
                if stop:
                    self.defer(recipients[index + 1 :], stop)
                    break
            self.flush()
        except Exception:
            # Something unexpected (database gone, a bug). Results already known (some
            # SENT) are written first, in a fresh transaction: left `sending` they would
            # become `unknown` and "resend unknown" would send them twice. Only the row in
            # hand stays `sending` (the sweep reports it `unknown`); rows not yet touched
            # are certainly unsent, so they go back to the queue.
            self.session.rollback()
            self._salvage(recipients[index + 1 :])
            raise
        return self.result

    def flush(self) -> None:
        record_outcomes(self.session, self.pending)
        self.pending = []
        self.marks.recorded()

    def _salvage(self, untouched: list[Recipient]) -> None:
        """After an unexpected error: write the known results, give back the untouched."""
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the database itself may be the problem
            self.session.rollback()
            log.exception("could not record %d results of the batch", len(self.pending))
        self.pending = []
        try:
            self.release(untouched, "batch stopped by an error")
        except Exception:  # noqa: BLE001 - the database itself may be the problem
            self.session.rollback()
            log.exception("could not give back the rest of batch")

    def refused(self, rest: list[Recipient], exc: ConnectRefused) -> None:
        """The relay refused our connection for good (e.g. the login): pause the campaign
        with the reason and give the whole rest back, the row in hand included, with no
        attempt counted — the fault is ours, not the recipients'."""
        self.flush()
        self._pause(refusal_reason(str(exc)))
        self.release(rest, "the relay refused the connection")

    def still_running(self) -> bool:
        status = self.session.scalar(
            select(Campaign.status).where(Campaign.id == self.ctx.campaign_id)
        )
        self.session.commit()
        return status == CampaignStatus.RUNNING

    def wait_for_slot(self, recipient: Recipient) -> float:
        """0 when a throttle slot was taken, else seconds until one frees (defer)."""
        deadline = time.monotonic() + REDIS_GRACE_SECONDS
        while True:
            try:
                wait = self.throttle.try_acquire(recipient.domain, self.queue_of(recipient))
            except (redis.RedisError, OSError):
                if time.monotonic() > deadline:
                    return -1.0
                time.sleep(REDIS_RETRY_SLEEP)
                continue
            if wait <= 0:
                return 0.0
            if wait > THROTTLE_DEFER_SECONDS:
                return wait
            time.sleep(wait)

    def one(self, r: Recipient, following: Recipient | None = None) -> str | None:
        """Send one row; return a reason to stop the batch, or None to go on. The message
        of ``following`` is built while the relay reads this one (BUILT AHEAD)."""
        message_id = self.ctx.message_id(r.delivery_id)
        wait = self.wait_for_slot(r)
        if wait < 0:
            reason = "Redis unreachable (throttle)"
            self.later(r, backoff_delay(1, self.config), f"deferred: {reason}", attempted=False)
            return reason
        if wait > 0:
            if self.throttle.blocked_by == "paused":
                why = f"deferred: {self.queue_of(r)} asked us to slow down"
            else:
                why = f"throttled: {r.domain} limit reached"
            self.later(r, wait, why, attempted=False)
            return None
        # The begun mark goes to Redis now and is confirmed before MAIL FROM: building and
        # signing the message meanwhile hides the round trip (``claims.Marks``).
        self.marks.announce(r.delivery_id)
        try:
            backend = self.transport.ensure()
            if r.needs_smtputf8 and not supports_smtputf8(backend):
                self.fail(
                    r,
                    message_id,
                    "the relay does not offer SMTPUTF8, needed for this "
                    "non-ASCII address (it cannot be downgraded)",
                )
                return None
            data = self.message_of(r, message_id)
        except NeedsSMTPUTF8 as exc:
            self.fail(r, message_id, str(exc))
            return None
        except TransientSendError as exc:
            return self.transient(r, message_id, exc, connect=True)
        except ValueError as exc:  # a bad address or header value: this row only
            self.fail(r, message_id, f"cannot build the message: {exc}")
            return None
        if not self.marks.confirm():
            # Without its begun mark a message must not go: after a death the sweep would
            # take it for never begun and send it again.
            reason = "Redis lost the batch's begun marks"
            self.later(r, backoff_delay(1, self.config), f"deferred: {reason}", attempted=False)
            return reason
        meanwhile = (lambda: self.build_ahead(following)) if following is not None else None
        try:
            self.transport.send(self.ctx.mail_from(r.delivery_id), r.wire, data, meanwhile)
        except ConnectRefused:
            raise
        except (PermanentSendError, TransientSendError) as exc:
            return self.answered(r, message_id, exc)
        except SendError as exc:  # pragma: no cover - every SendError is one of the two
            self.fail(r, message_id, str(exc))
            return None
        self.connect_failures = 0
        sent_at = utcnow()
        self.pending.append(
            Outcome(r.delivery_id, DeliveryStatus.SENT, message_id, sent_at=sent_at)
        )
        self.marks.sent(r.delivery_id, sent_at, message_id)
        self.result.sent += 1
        if self.brake.dirty:
            self.brake.reset()
        return None

    def message_of(self, r: Recipient, message_id: str) -> bytes:
        """The bytes of ``r``'s message: the ones built ahead for it, else built now."""
        ahead, self.ahead = self.ahead, None
        if ahead is None or ahead[0] != r.delivery_id:
            return self._build(r, message_id)
        if isinstance(ahead[1], Exception):
            raise ahead[1]  # in the row's own turn, where its failure is handled
        return ahead[1]

    def build_ahead(self, r: Recipient) -> None:
        """Build ``r``'s message while the relay reads the one before (never raises)."""
        try:
            self.ahead = (r.delivery_id, self._build(r, self.ctx.message_id(r.delivery_id)))
        except Exception as exc:  # noqa: BLE001 - kept for the row's own turn
            self.ahead = (r.delivery_id, exc)

    def _build(self, r: Recipient, message_id: str) -> bytes:
        return self.ctx.message(
            r.delivery_id,
            r.subscriber_id,
            r.wire,
            r.name,
            smtputf8=r.needs_smtputf8,
            message_id=message_id,
        )

    def queue_of(self, r: Recipient) -> str:
        """The provider queue of a recipient (its provider code, else its domain)."""
        return self.queues.get(r.domain) or r.domain

    def answered(self, r: Recipient, message_id: str, exc: SendError) -> str | None:
        """The relay refused this message: what the reply means decides (see PROVIDER
        QUEUES); a reply the table does not know keeps the rules by code."""
        known = meaning_of(exc.code, exc.enhanced, str(exc))
        if known is not None and known.meaning == SLOW_DOWN:
            attempts = self.config.max_attempts * SLOW_DOWN_ATTEMPTS_FACTOR
            self.slow_down(r, message_id, exc, known.min_pause, attempts)
            return None
        if isinstance(exc, TransientSendError):
            if known is None and self.queue_of(r) in self.throttle.providers:
                # A provider with a preset deferring us: its queue backs off as a whole.
                self.slow_down(r, message_id, exc, 0.0, self.config.max_attempts)
                return None
            return self.transient(r, message_id, exc, connect=False)
        if known is not None and known.meaning == TEMPORARY:
            return self.transient(r, message_id, exc, connect=False)
        self.fail(r, message_id, str(exc), refusal=exc)
        return None

    def slow_down(
        self, r: Recipient, message_id: str, exc: SendError, min_pause: float, give_up_at: int
    ) -> None:
        """Pause the recipient's provider queue (for every worker) and put the row back
        for after the pause; an attempt is counted, nothing is suppressed, the error
        brake is not fed."""
        queue = self.queue_of(r)
        try:
            pause = self.throttle.back_off(queue, min_pause)
        except (redis.RedisError, OSError):
            pause = max(min_pause, backoff_delay(1, self.config))
        self.result.slowed += 1
        attempts = self._attempts(r.delivery_id) + 1
        if attempts >= give_up_at:
            # Not a refusal of the address: failed, never suppressed.
            self.fail(r, message_id, f"gave up after {attempts} attempts: {exc}")
            return
        # Spread the queue's rows a little past the pause's end (never before it).
        delay = pause * random.uniform(1.0, 1.0 + self.config.retry_jitter)
        self.later(r, delay, f"{queue} asked us to slow down: {exc}", attempted=True)

    def fail(
        self, r: Recipient, message_id: str, error: str, refusal: SendError | None = None
    ) -> None:
        self.pending.append(Outcome(r.delivery_id, DeliveryStatus.FAILED, message_id, error))
        self.marks.not_sent(r.delivery_id)
        self.result.failed += 1
        kind = smtp_refusal_kind(refusal.code, refusal.enhanced, str(refusal)) if refusal else None
        if refusal is not None and kind:
            self.flush()
            record_refusal(self.session, r.delivery_id, refusal)
        if refusal is not None and kind == "policy":
            # 5.7.x refuses OUR mail (authentication, reputation): in a row, it would fail
            # the whole audience, so the brake counts it (and stops for a person).
            self._count_failure(str(refusal), refusal.code, refusal.enhanced)

    def later(self, r: Recipient, delay: float, error: str, attempted: bool) -> None:
        when = utcnow() + timedelta(seconds=delay)
        self.pending.append(
            Outcome(r.delivery_id, DeliveryStatus.RETRY_DUE, None, error, attempted, when)
        )
        self.marks.not_sent(r.delivery_id)
        if attempted:
            self.result.retry += 1
        else:
            self.result.deferred += 1

    def transient(self, r: Recipient, message_id: str, exc: SendError, connect: bool) -> str | None:
        if connect:
            # We could not reach a relay: our problem, not this recipient's, so it costs
            # no attempt (else a relay outage would fail the first rows of every batch).
            self.later(r, backoff_delay(1, self.config), f"deferred: {exc}", attempted=False)
        else:
            attempts = self._attempts(r.delivery_id) + 1
            if attempts >= self.config.max_attempts:
                self.fail(r, message_id, f"gave up after {attempts} attempts: {exc}")
            else:
                self.later(r, backoff_delay(attempts, self.config), str(exc), attempted=True)
        if connect or self.transport.lost:
            self._count_failure(str(exc), exc.code, exc.enhanced)
        if connect:
            self.connect_failures += 1
            if self.connect_failures >= BATCH_CONNECT_FAILURES:
                return f"relay unavailable: {exc}"
        return None

    def _attempts(self, delivery_id: int) -> int:
        value = self.session.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id))
        return int(value or 0)

    def defer(self, rest: list[Recipient], reason: str) -> None:
        """Give untouched rows back as ``retry_due`` (no attempt counted)."""
        delay = backoff_delay(1, self.config)
        for r in rest:
            self.later(r, delay, f"deferred: {reason}", attempted=False)

    def release(self, rest: list[Recipient], reason: str) -> None:
        """The campaign was paused or cancelled mid-batch: untouched rows go back."""
        status = self.session.scalar(
            select(Campaign.status).where(Campaign.id == self.ctx.campaign_id)
        )
        new = (
            DeliveryStatus.SKIPPED if status == CampaignStatus.CANCELLED else DeliveryStatus.PENDING
        )
        ids = [r.delivery_id for r in rest]
        self.session.execute(
            moved(
                RELEASE,
                Delivery.id.in_(ids),
                to=new,
                queued_at=None,
                last_error="campaign cancelled" if new == DeliveryStatus.SKIPPED else None,
            )
        )
        self.session.commit()
        self.result.released += len(ids)

    # ---- the error brake (see ``brake``)

    def _count_failure(self, error: str, code: int | None, enhanced: str | None) -> None:
        tripped = self.brake.count()
        if tripped is not None:
            self.flush()
            if trip(
                self.session, self.ctx.campaign_id, tripped, error, code, enhanced, self.config
            ):
                self.result.braked = True
            self.brake.clear()

    def _pause(self, reason: Message) -> None:
        """Pause the campaign with ``reason`` (the error brake and a refused login)."""
        if pause_campaign(self.session, self.ctx.campaign_id, reason):
            self.result.braked = True


def record_refusal(session: Session, delivery_id: int, refusal: SendError) -> None:
    """A permanent refusal at SMTP time, through the events policy; commits.

    5.1.x (or a bare 550/551/553) suppresses the delivery's address; 5.7.x stores a
    sender-side alert and leaves the recipient alone (see ``policy.smtp_refusal_kind``).
    """
    delivery = session.get(Delivery, delivery_id)
    if delivery is not None:
        record_smtp_refusal(session, delivery, refusal.code, refusal.enhanced, str(refusal))
    session.commit()


def send_batch(
    session: Session,
    settings: Settings,
    client: redis.Redis,
    campaign_id: int,
    delivery_ids: Sequence[int],
    *,
    pool: RelayPool | None = None,
) -> BatchResult:
    """Claim ``delivery_ids`` and send them; commits as it goes (see module docstring)."""
    config = get_sending_config(session)
    held = open_claim(session, client, campaign_id)
    ids = claim(session, campaign_id, delivery_ids, claim_id=held.id)
    if not ids:
        close_claim(session, client, held)
        return BatchResult()
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    # The claim beats from the moment it holds rows until they are all recorded.
    with Heartbeat(engine, held.id, config.heartbeat_seconds):
        result = _send(session, settings, config, client, campaign_id, ids, held, pool)
    # Only after a clean end: a batch stopped by an error may have left the row in hand
    # `sending`; its claim then stops beating and the sweep settles it from the marks.
    close_claim(session, client, held)
    result.claimed = len(ids)
    return result


def _send(
    session: Session,
    settings: Settings,
    config: SendingConfig,
    client: redis.Redis,
    campaign_id: int,
    ids: list[int],
    held: Claim,
    pool: RelayPool | None,
) -> BatchResult:
    """Send the claimed rows over one kept connection, marking each one begun."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None  # claim only succeeds for an existing, running campaign
    ctx = context_for(session, settings, campaign)
    recipients = load_recipients(session, ctx, ids)
    queues = known_providers(session, {r.domain for r in recipients})
    session.commit()
    transport = checkout_transport(pool or relay_pool(settings, config))
    marks = Marks(client, held)
    healthy = False
    try:
        result = _Batch(session, ctx, config, client, transport, marks, queues).run(recipients)
        healthy = True
    finally:
        marks.close()
        checkin_transport(transport, healthy)
    return result
