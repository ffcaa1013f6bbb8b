"""The send core: claim a batch, personalise, build, sign, send over one connection, record.

``send_batch`` is what the ``tidings.send.batch`` task runs. Its promise, together with the
ledger: a row is handed to SMTP only after this worker won it with the guarded claim, and
its result is committed right after (in small groups, see ``COMMIT GROUPS`` below), so a
crash can leave at most the rows of one batch in ``sending`` — the sweep reports those as
``unknown`` and never re-sends them by itself.

COMMIT GROUPS (the README trade-off). Results are written with one executemany UPDATE per
group of ``commit_group`` messages (default 20) instead of one commit per message. A
commit per message costs a database round trip and an fsync-ish write per message, which
caps SQLite at a few hundred messages per second across workers; a group commit costs the
same once per 20 messages. What it costs in safety: if a worker dies, the up-to-20 rows
of the current group that went out but were not yet recorded stay ``sending`` with the
rest of the claimed batch, and become ``unknown`` (reported, never re-sent). The window
is bounded by the batch either way (a batch is claimed at once), so group commits widen
nothing that per-message commits would have closed.

``render_message`` and ``send_test`` share the same building code, so the CLI's ``.eml``
is exactly what the subscriber would be sent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property

import redis
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from service.campaigns.content import load_compiled, render_content
from service.campaigns.ledger import claim
from service.campaigns.service import TransitionError, campaign_list_ids, pause
from service.config import Settings
from service.errors import Message
from service.events.mailto_unsubscribe import unsubscribe_address
from service.events.policy import record_smtp_refusal, smtp_refusal_kind
from service.issues.render import CompiledEmail
from service.issues.render_compiled import (
    LINK_SLOT_PREFIX,
    SLOT_NAME,
    SLOT_OPEN_PIXEL,
    SLOT_PREFERENCES,
    SLOT_UNSUBSCRIBE,
)
from service.mail.addresses import wire_form
from service.mail.backends import PermanentSendError, SendError, TransientSendError
from service.mail.from_address import check_sendable
from service.mail.message import ListId, MessageBuilder, MessageParts, NeedsSMTPUTF8
from service.mail.relays import RelayPool, supports_smtputf8
from service.mail.sending_config import SendingConfig, get_sending_config, through_relay
from service.mail.throttle import Throttle
from service.mail.transport import (
    ConnectRefused,
    Transport,
    checkin_transport,
    checkout_transport,
    relay_pool,
    signer_for,
)
from service.mail.verp import verp_address
from service.model import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    MailingList,
    Subscriber,
    utcnow,
)
from service.subscribers.unsubscribe_links import campaign_unsubscribe_token
from service.tokens import CLICK, OPEN, PREFERENCES, make_token

log = logging.getLogger(__name__)

# A throttle wait longer than this defers the row instead of holding the worker.
THROTTLE_DEFER_SECONDS = 2.0
# Redis unreachable while throttling: retry this long, then give the rest of the batch back.
REDIS_GRACE_SECONDS = 10.0
REDIS_RETRY_SLEEP = 0.5
# Connection failures in a row within one batch after which the batch gives up.
BATCH_CONNECT_FAILURES = 2
BRAKE_KEY = "tidings:brake:"
BRAKE_KEY_TTL_SECONDS = 24 * 3600
# How much of a relay's answer a pause reason quotes.
MAX_QUOTED_ERROR_CHARS = 300
TEST_SUBJECT_PREFIX = "[测试] "
TEST_HEADER = ("X-Tidings-Test", "1")
CONTEXT_CACHE = 8


# ------------------------------------------------------------------ per-campaign context


@dataclass
class CampaignContext:
    """Everything per campaign that each message reuses (built once per worker process)."""

    campaign_id: int
    compiled: CompiledEmail
    builder: MessageBuilder
    list_ids: list[int]
    tracking: bool
    link_positions: list[int]
    settings: Settings
    secret: bytes = field(repr=False)

    def values(self, delivery_id: int, subscriber_id: int, name: str) -> dict[str, str]:
        """The slot values of one recipient (short stateless tokens, no database rows)."""
        base, key = self.settings.base_url, self.settings.secret_key
        unsubscribe_token = campaign_unsubscribe_token(key, subscriber_id, self.campaign_id)
        values = {
            SLOT_NAME: name,
            SLOT_UNSUBSCRIBE: f"{base}/unsubscribe/{unsubscribe_token}",
            SLOT_PREFERENCES: f"{base}/preferences/{make_token(key, PREFERENCES, subscriber_id)}",
        }
        if self.tracking:
            values[SLOT_OPEN_PIXEL] = f"{base}/o/{make_token(key, OPEN, delivery_id)}"
            for n in self.link_positions:
                values[f"{LINK_SLOT_PREFIX}{n}"] = (
                    f"{base}/c/{make_token(key, CLICK, delivery_id, n)}"
                )
        return values

    def message(
        self,
        delivery_id: int,
        subscriber_id: int,
        to_addr: str,
        name: str,
        *,
        smtputf8: bool = False,
        builder: MessageBuilder | None = None,
        message_id: str | None = None,
    ) -> bytes:
        """The exact bytes (DKIM-signed when configured) for one recipient."""
        values = self.values(delivery_id, subscriber_id, name)
        html, text = self.compiled.fill_wire(values)
        builder = builder or self.builder
        data = builder.build(
            to_addr,
            name or None,
            html,
            text,
            values[SLOT_UNSUBSCRIBE],
            message_id or self.message_id(delivery_id),
            smtputf8=smtputf8,
        )
        signer = signer_for(self.settings)
        return signer.sign(data) if signer is not None else bytes(data)

    def message_id(self, delivery_id: int) -> str:
        """The deterministic Message-ID of a delivery."""
        return self.builder.message_id_for(delivery_id, self.campaign_id, self.secret)

    def mail_from(self, delivery_id: int) -> str:
        """MAIL FROM: the VERP address when TIDINGS_BOUNCE_DOMAIN is set, else From."""
        bounce = self.settings.extra.get("TIDINGS_BOUNCE_DOMAIN")
        if bounce:
            return verp_address(delivery_id, self.secret, self.settings.bounce_domain)
        return self.builder.parts.from_addr


def _list_id(session: Session, list_ids: Sequence[int], from_addr: str) -> ListId:
    first = session.get(MailingList, list_ids[0]) if list_ids else None
    domain = from_addr.rpartition("@")[2]
    label = "".join(
        c if c.isascii() and (c.isalnum() or c in "-_") else "-"
        for c in (first.slug if first else "news")
    )
    return ListId(
        label=label.strip("-") or "news", domain=domain, description=first.name if first else None
    )


def make_builder(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    subject_prefix: str = "",
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> MessageBuilder:
    """The campaign's MessageBuilder (From, Subject, List-Id, ... encoded once)."""
    list_ids = campaign_list_ids(session, campaign.id)
    domain = (settings.dkim_domain or campaign.from_addr.rpartition("@")[2]).strip()
    return MessageBuilder(
        MessageParts(
            from_name=campaign.from_name,
            from_addr=campaign.from_addr,
            reply_to=campaign.reply_to,
            subject=subject_prefix + campaign.subject,
            list_id=_list_id(session, list_ids, campaign.from_addr),
            feedback_id=f"c{campaign.id}:newsletter:tidings",
            list_unsubscribe_mailto=unsubscribe_address(settings),
            message_id_domain=domain,
            tz=settings.timezone,
            extra_headers=extra_headers,
            boundary_seed=_boundary_seed(settings.secret_key, campaign.id),
        )
    )


def _boundary_seed(secret: str, campaign_id: int) -> str:
    # Keyed, so the boundary says nothing a reader could use; fixed per campaign, so a
    # rendered file and the message sent later are the same bytes.
    digest = hmac.new(secret.encode(), f"boundary:{campaign_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


_contexts: dict[tuple[object, ...], CampaignContext] = {}


def context_for(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    compiled: CompiledEmail | None = None,
) -> CampaignContext:
    """The campaign's context, cached per process (a batch only pays for it once).

    ``compiled`` is given for a preview of a campaign not compiled yet (not cached).
    """
    key = (
        campaign.id,
        campaign.started_at,
        campaign.subject,
        campaign.from_addr,
        settings.base_url,
    )
    # Given content (a preview, a test send) is never cached, nor a campaign not started:
    # its content may still change (and `campaign render` compiles it again).
    cache = compiled is None and campaign.started_at is not None
    ctx = _contexts.get(key) if cache else None
    if ctx is not None:
        return ctx
    if compiled is None:
        compiled = load_compiled(campaign)
    positions = sorted(int(s[len(LINK_SLOT_PREFIX) :]) for s in compiled.link_slots)
    ctx = CampaignContext(
        campaign_id=campaign.id,
        compiled=compiled,
        builder=make_builder(session, settings, campaign),
        list_ids=campaign_list_ids(session, campaign.id),
        tracking=campaign.tracking,
        link_positions=positions,
        settings=settings,
        secret=settings.secret_key.encode(),
    )
    if campaign.compiled and cache:
        if len(_contexts) >= CONTEXT_CACHE:
            _contexts.clear()
        _contexts[key] = ctx
    return ctx


# ------------------------------------------------------------------ recipients


@dataclass(frozen=True)
class Recipient:
    """One claimed row with what its message needs."""

    delivery_id: int
    subscriber_id: int
    email: str  # the delivery's snapshot as stored (IDN domain in Unicode): what
    # suppressions hash and check
    name: str

    @cached_property
    def wire(self) -> str:
        """The address on the wire: the snapshot with its domain as an A-label.

        Raises ``InvalidAddress`` (a ``ValueError``) for a snapshot that is not an address.
        """
        return wire_form(self.email)

    @property
    def needs_smtputf8(self) -> bool:
        """A non-ASCII local part can only travel over SMTPUTF8."""
        return not self.email.rpartition("@")[0].isascii()

    @property
    def domain(self) -> str:
        """The recipient's domain (for the per-domain throttle), as on the wire."""
        try:
            return self.wire.rpartition("@")[2]
        except ValueError:
            return self.email.rpartition("@")[2].lower()


def load_recipients(session: Session, ctx: CampaignContext, ids: Sequence[int]) -> list[Recipient]:
    """The claimed rows with the subscriber data their messages need."""
    rows = session.execute(
        # The delivery's own snapshot, not the subscriber row: it is what was checked
        # against suppressions at claim, and what a refusal must suppress.
        select(Delivery.id, Delivery.subscriber_id, Delivery.email, Subscriber.name)
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(list(ids)))
        .order_by(Delivery.id)
    ).all()
    return [Recipient(r[0], int(r[1] or 0), r[2], r[3] or "") for r in rows]


# ------------------------------------------------------------------ results


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


def _record(session: Session, outcomes: list[Outcome]) -> None:
    """Write a group of outcomes (guarded: only rows still ``sending``) and commit."""
    if not outcomes:
        return
    rows = [
        {
            "b_id": o.delivery_id,
            "b_status": o.status,
            "b_inc": 1 if o.attempted else 0,
            "b_next": o.next_attempt_at,
            "b_sent": o.sent_at,
            "b_mid": o.message_id,
            "b_err": (o.error or "")[:2000] or None,
        }
        for o in outcomes
    ]
    if session.get_bind().dialect.name == "postgresql":
        # One statement for the group: fifty single-row UPDATEs cost the server (and
        # psycopg) a statement each.
        session.execute(PG_RECORD, {key: [r[key] for r in rows] for key in rows[0]})
    else:
        session.execute(RECORD, rows)
    session.commit()


# The same guarded UPDATE as RECORD, for a whole group, from parallel arrays.
PG_RECORD = text(
    """
    UPDATE deliveries AS d SET
        status = v.status,
        attempts = d.attempts + v.inc,
        next_attempt_at = v.next_at,
        sent_at = v.sent_at,
        message_id = v.mid,
        -- a row sent after a retry keeps the error of its last failed attempt
        last_error = coalesce(v.err, d.last_error)
    FROM unnest(
        CAST(:b_id AS INTEGER[]), CAST(:b_status AS VARCHAR[]), CAST(:b_inc AS INTEGER[]),
        CAST(:b_next AS TIMESTAMPTZ[]), CAST(:b_sent AS TIMESTAMPTZ[]),
        CAST(:b_mid AS VARCHAR[]), CAST(:b_err AS VARCHAR[])
    ) AS v(id, status, inc, next_at, sent_at, mid, err)
    WHERE d.id = v.id AND d.status = 'sending'
    """
)


_TABLE = Delivery.__table__
# Guarded: only rows still ``sending`` take an outcome (a swept or resent row does not).
RECORD = (
    _TABLE.update()  # type: ignore[attr-defined]
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.status == DeliveryStatus.SENDING)
    .values(
        status=bindparam("b_status"),
        attempts=_TABLE.c.attempts + bindparam("b_inc"),
        next_attempt_at=bindparam("b_next"),
        sent_at=bindparam("b_sent"),
        message_id=bindparam("b_mid"),
        # A row sent after a retry keeps the error of its last failed attempt.
        last_error=func.coalesce(bindparam("b_err"), _TABLE.c.last_error),
    )
)


def backoff_delay(attempt: int, config: SendingConfig, rng: random.Random | None = None) -> float:
    """Seconds before retry number ``attempt`` (1-based): exponential, capped, jittered."""
    rng = rng or random.Random()
    base = min(config.retry_max_seconds, config.retry_base_seconds * (2 ** max(0, attempt - 1)))
    return base * rng.uniform(1 - config.retry_jitter, 1 + config.retry_jitter)


# ------------------------------------------------------------------ the batch


@dataclass
class BatchResult:
    """What one batch did (for logs and tests)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retry: int = 0
    deferred: int = 0
    released: int = 0
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
    ) -> None:
        self.session = session
        self.ctx = ctx
        self.config = config
        self.client = client
        self.throttle = Throttle.from_settings(client, config.global_rate, config.domain_limits)
        self.transport = transport
        self.pending: list[Outcome] = []
        self.result = BatchResult()
        self.brake_dirty = True
        self.connect_failures = 0

    def run(self, recipients: list[Recipient]) -> BatchResult:
        index = -1
        try:
            for index, recipient in enumerate(recipients):
                if index and index % self.config.commit_group == 0:
                    self.flush()
                    if not self.still_running():
                        self.release(recipients[index:], "campaign no longer running")
                        break
                try:
                    stop = self.one(recipient)
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
        _record(self.session, self.pending)
        self.pending = []

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
                wait = self.throttle.try_acquire(recipient.domain)
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

    def one(self, r: Recipient) -> str | None:
        """Send one row; return a reason to stop the batch, or None to go on."""
        message_id = self.ctx.message_id(r.delivery_id)
        wait = self.wait_for_slot(r)
        if wait < 0:
            reason = "Redis unreachable (throttle)"
            self.later(r, backoff_delay(1, self.config), f"deferred: {reason}", attempted=False)
            return reason
        if wait > 0:
            self.later(r, wait, f"throttled: {r.domain} limit reached", attempted=False)
            return None
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
            data = self.ctx.message(
                r.delivery_id,
                r.subscriber_id,
                r.wire,
                r.name,
                smtputf8=r.needs_smtputf8,
                message_id=message_id,
            )
        except NeedsSMTPUTF8 as exc:
            self.fail(r, message_id, str(exc))
            return None
        except TransientSendError as exc:
            return self.transient(r, message_id, exc, connect=True)
        except ValueError as exc:  # a bad address or header value: this row only
            self.fail(r, message_id, f"cannot build the message: {exc}")
            return None
        try:
            self.transport.send(self.ctx.mail_from(r.delivery_id), r.wire, data)
        except ConnectRefused:
            raise
        except PermanentSendError as exc:
            self.fail(r, message_id, str(exc), refusal=exc)
            return None
        except TransientSendError as exc:
            return self.transient(r, message_id, exc, connect=False)
        except SendError as exc:  # pragma: no cover - every SendError is one of the two
            self.fail(r, message_id, str(exc))
            return None
        self.connect_failures = 0
        self.pending.append(
            Outcome(r.delivery_id, DeliveryStatus.SENT, message_id, sent_at=utcnow())
        )
        self.result.sent += 1
        if self.brake_dirty:
            self._brake_reset()
        return None

    def fail(
        self, r: Recipient, message_id: str, error: str, refusal: SendError | None = None
    ) -> None:
        self.pending.append(Outcome(r.delivery_id, DeliveryStatus.FAILED, message_id, error))
        self.result.failed += 1
        if refusal is not None and smtp_refusal_kind(refusal.code, refusal.enhanced):
            self.flush()
            record_refusal(self.session, r.delivery_id, refusal)

    def later(self, r: Recipient, delay: float, error: str, attempted: bool) -> None:
        when = utcnow() + timedelta(seconds=delay)
        self.pending.append(
            Outcome(r.delivery_id, DeliveryStatus.RETRY_DUE, None, error, attempted, when)
        )
        if attempted:
            self.result.retry += 1
        else:
            self.result.deferred += 1

    def transient(
        self, r: Recipient, message_id: str, exc: TransientSendError, connect: bool
    ) -> str | None:
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
            self._brake_count(str(exc))
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
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.SENDING)
            .values(
                status=new,
                queued_at=None,
                last_error="campaign cancelled" if new == DeliveryStatus.SKIPPED else None,
            )
        )
        self.session.commit()
        self.result.released += len(ids)

    # ---- the error brake: consecutive transport failures, shared through Redis

    def _brake_reset(self) -> None:
        try:
            self.client.delete(BRAKE_KEY + str(self.ctx.campaign_id))
            self.brake_dirty = False
        except (redis.RedisError, OSError):
            pass

    def _brake_count(self, error: str) -> None:
        self.brake_dirty = True
        key = BRAKE_KEY + str(self.ctx.campaign_id)
        try:
            count = int(self.client.incr(key))
            self.client.expire(key, BRAKE_KEY_TTL_SECONDS)
        except (redis.RedisError, OSError):
            return
        if count >= self.config.error_brake > 0:
            self.flush()
            self._pause(brake_reason(count, error))
            try:
                self.client.delete(key)
            except (redis.RedisError, OSError):
                pass

    def _pause(self, reason: Message) -> None:
        """Pause the campaign with ``reason`` (the error brake and a refused login)."""
        try:
            pause(self.session, self.ctx.campaign_id, reason)
            self.session.commit()
            self.result.braked = True
        except TransitionError:
            self.session.rollback()


def brake_reason(count: int, error: str) -> Message:
    """Why the error brake paused a campaign: ``count`` failures in a row, the last one's
    text as the relay gave it (quoted, never translated)."""
    return Message.of(
        "campaign.error_brake",
        "paused automatically after %(count)s transport failures in a row; last: %(error)s",
        count=count,
        error=error[:MAX_QUOTED_ERROR_CHARS],
    )


def refusal_reason(error: str) -> Message:
    """Why a campaign paused when the relay refused our connection (e.g. the login)."""
    return Message.of(
        "campaign.relay_refused",
        "paused automatically: the relay refused the connection: %(error)s",
        error=error[:MAX_QUOTED_ERROR_CHARS],
    )


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
    ids = claim(session, campaign_id, delivery_ids)
    if not ids:
        return BatchResult()
    config = get_sending_config(session)
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None  # claim only succeeds for an existing, running campaign
    ctx = context_for(session, settings, campaign)
    recipients = load_recipients(session, ctx, ids)
    session.commit()
    transport = checkout_transport(pool or relay_pool(settings, config))
    healthy = False
    try:
        result = _Batch(session, ctx, config, client, transport).run(recipients)
        healthy = True
    finally:
        checkin_transport(transport, healthy)
    result.claimed = len(ids)
    return result


# ------------------------------------------------------------------ render and test sends


def render_message(session: Session, settings: Settings, campaign_id: int, email: str) -> bytes:
    """The exact bytes ``email``'s subscriber would be sent (same code path as
    ``send_batch``); only ``Date`` and the DKIM timestamp and signature differ later.

    A campaign that has not started yet is compiled now (content and link rows, as start
    does; start compiles again, with the same result for the same content) and the
    subscriber's delivery row is reserved, so the Message-ID and every link in the file
    are the ones sent, and they resolve. Commits. Raises ``LookupError`` (no such
    campaign or subscriber, or not a recipient), ``ContentError``.
    """
    from service.campaigns.content import compile_campaign
    from service.campaigns.ledger import reserve
    from service.mail.addresses import normalise

    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"there is no campaign {campaign_id}")
    address = normalise(email)
    sub = session.scalar(select(Subscriber).where(Subscriber.email == address.email))
    if sub is None:
        raise LookupError(f"there is no subscriber {address.email}")
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        compile_campaign(session, settings, campaign)
    delivery_id = reserve(session, campaign_id, sub.id)
    session.commit()
    ctx = context_for(session, settings, campaign)
    r = load_recipients(session, ctx, [delivery_id])[0]
    return ctx.message(r.delivery_id, r.subscriber_id, r.wire, r.name, smtputf8=r.needs_smtputf8)


def _tester_id(session: Session, email: str) -> int:
    """The subscriber id a test's unsubscribe and preferences links are made for: the
    tester's own when the address is a subscriber (the links then work for them), else
    0, whose links open a page saying they come from a test."""
    found = session.scalar(select(Subscriber.id).where(Subscriber.email == email))
    return int(found or 0)


@dataclass(frozen=True)
class SendTestResult:
    """What happened to one address of a test send."""

    address: str
    error: str | None = None  # None: the relay accepted it

    @property
    def line(self) -> str:
        """One line for the CLI and the API: ``address: sent`` or ``address: reason``."""
        return f"{self.address}: {self.error or 'sent'}"


def send_test(
    session: Session,
    settings: Settings,
    campaign_id: int,
    addresses: Sequence[str],
    *,
    pool: RelayPool | None = None,
) -> list[SendTestResult]:
    """Send the campaign to ``addresses`` as a test: subject prefixed, marked with
    ``X-Tidings-Test: 1``, no delivery rows (so no report counts it). Returns what
    happened to each address (the admin says it in the reader's language)."""
    from service.mail.addresses import InvalidAddress, normalise

    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"there is no campaign {campaign_id}")
    config = get_sending_config(session)
    check_sendable(campaign.from_addr, through_relay(settings, config))
    # Rendered as with tracking off: a test send has no delivery row, so tracked links
    # and the pixel would point at delivery 0 and 404. Real URLs, no pixel; the archive
    # page opens with a preview token while the issue is not published.
    compiled, _ = render_content(session, settings, campaign, tracking=False, for_test=True)
    ctx = replace(context_for(session, settings, campaign, compiled), tracking=False)
    builder = make_builder(session, settings, campaign, TEST_SUBJECT_PREFIX, (TEST_HEADER,))
    transport = Transport(pool or relay_pool(settings, config))
    results = []
    try:
        for raw in addresses:
            try:
                address = normalise(raw)
            except InvalidAddress as exc:
                results.append(SendTestResult(raw, str(exc)))
                continue
            message_id = f"<test.{secrets.token_hex(8)}@{builder.message_id_domain}>"
            try:
                data = ctx.message(
                    0,
                    _tester_id(session, address.email),
                    address.email_ascii,
                    "",
                    smtputf8=address.needs_smtputf8,
                    builder=builder,
                    message_id=message_id,
                )
                transport.send(builder.parts.from_addr, address.email_ascii, data)
                results.append(SendTestResult(address.email))
            except (SendError, ValueError) as exc:
                results.append(SendTestResult(address.email, str(exc)))
    finally:
        transport.close()
    return results
