"""Previews and test sends: a campaign's message as a subscriber would get it, on file or
to a few addresses, built by the same code as ``send_batch`` (``personalise``), so the
CLI's ``.eml`` is exactly what the subscriber would be sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns.campaign_states import START
from service.campaigns.content import compile_campaign, render_content
from service.campaigns.personalise import (
    CampaignContext,
    context_for,
    load_recipients,
    make_builder,
)
from service.campaigns.recipients import reserve
from service.config import Settings
from service.errors import DomainError
from service.mail.addresses import InvalidAddress, normalise
from service.mail.backends import SendError
from service.mail.from_address import check_sendable
from service.mail.relays import RelayPool
from service.mail.sending_config import get_sending_config, through_relay
from service.mail.transport import Transport, relay_pool
from service.model import Campaign, Subscriber

TEST_SUBJECT_PREFIX = "[测试] "
TEST_HEADER = ("X-Tidings-Test", "1")
# Who a sample message (a campaign whose lists are still empty) is addressed to.
SAMPLE_LOCAL_PART = "sample"
SAMPLE_NAME = "Sample"


def render_message(session: Session, settings: Settings, campaign_id: int, email: str) -> bytes:
    """The exact bytes ``email``'s subscriber would be sent (same code path as
    ``send_batch``); only ``Date`` and the DKIM timestamp and signature differ later.

    A campaign that has not started yet is compiled now (content and link rows, as start
    does; start compiles again, with the same result for the same content) and the
    subscriber's delivery row is reserved, so the Message-ID and every link in the file
    are the ones sent, and they resolve. Commits. Raises ``LookupError`` (no such
    campaign or subscriber, or not a recipient), ``ContentError``.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"there is no campaign {campaign_id}")
    address = normalise(email)
    sub = session.scalar(select(Subscriber).where(Subscriber.email == address.email))
    if sub is None:
        raise LookupError(f"there is no subscriber {address.email}")
    if START.allows(campaign.status):  # not started yet: compiled now, as start would
        compile_campaign(session, settings, campaign)
    delivery_id = reserve(session, campaign_id, sub.id)
    session.commit()
    ctx = context_for(session, settings, campaign)
    r = load_recipients(session, ctx, [delivery_id])[0]
    return ctx.message(r.delivery_id, r.subscriber_id, r.wire, r.name, smtputf8=r.needs_smtputf8)


def _rowless_context(session: Session, settings: Settings, campaign: Campaign) -> CampaignContext:
    """The context of a message with no delivery row (a test, a sample).

    Rendered as with tracking off: with no row, tracked links and the pixel would point at
    delivery 0 and 404. Real URLs, no pixel; the archive page opens with a preview token
    while the issue is not published."""
    compiled, _ = render_content(session, settings, campaign, tracking=False, for_test=True)
    return replace(context_for(session, settings, campaign, compiled), tracking=False)


def render_sample(session: Session, settings: Settings, campaign_id: int) -> bytes:
    """The campaign's message for a sample recipient (``SAMPLE_NAME`` at the From domain,
    no subscriber: its unsubscribe and preferences links open the page for tests), when
    nobody is on its lists yet. No delivery row, so no tracking. Raises ``LookupError``,
    ``ContentError``."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"there is no campaign {campaign_id}")
    ctx = _rowless_context(session, settings, campaign)
    address = f"{SAMPLE_LOCAL_PART}@{campaign.from_addr.rpartition('@')[2]}"
    message_id = f"<sample.{secrets.token_hex(8)}@{ctx.builder.message_id_domain}>"
    return ctx.message(0, 0, address, SAMPLE_NAME, message_id=message_id)


def _tester_id(session: Session, email: str) -> int:
    """The subscriber id a test's unsubscribe and preferences links are made for: the
    tester's own when the address is a subscriber (the links then work for them), else
    0, whose links open a page saying they come from a test."""
    found = session.scalar(select(Subscriber.id).where(Subscriber.email == email))
    return int(found or 0)


class NoSuchSubscriber(DomainError, LookupError):
    """A test was asked to be rendered as a subscriber who is not there."""


def _shown_as(session: Session, email: str) -> Subscriber:
    """The subscriber a test is rendered as, by address (as staff typed it)."""
    try:
        wanted = normalise(email).email
    except InvalidAddress:
        wanted = email.strip()
    found = session.scalar(select(Subscriber).where(Subscriber.email == wanted))
    if found is None:
        raise NoSuchSubscriber(
            "campaign.test_no_subscriber", "there is no subscriber %(email)s", email=wanted
        )
    return found


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
    as_subscriber: str | None = None,
) -> list[SendTestResult]:
    """Send the campaign to ``addresses`` as a test: subject prefixed, marked with
    ``X-Tidings-Test: 1``, no delivery rows (so no report counts it). Returns what
    happened to each address (the admin says it in the reader's language).

    With ``as_subscriber`` (an address) every test is that subscriber's message: their
    name, their unsubscribe and preferences links; it still goes to ``addresses`` only.
    Raises ``NoSuchSubscriber`` when nobody has that address."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"there is no campaign {campaign_id}")
    shown_as = _shown_as(session, as_subscriber) if as_subscriber else None
    config = get_sending_config(session)
    check_sendable(campaign.from_addr, through_relay(settings, config))
    ctx = _rowless_context(session, settings, campaign)
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
                    shown_as.id if shown_as else _tester_id(session, address.email),
                    address.email_ascii,
                    shown_as.name if shown_as else "",
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
