"""Personalisation: what each message of a campaign reuses, and the recipients it is for.

``CampaignContext`` is built once per campaign and worker process (``context_for`` keeps
a few); a message is its compiled content with one recipient's slot values filled in
(short stateless tokens, no database rows), built and signed. The send core, the CLI's
rendered ``.eml`` and test sends all build their messages here, so they are the same.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns.content import load_compiled
from service.campaigns.drafts import campaign_list_ids
from service.config import Settings
from service.events.mailto_unsubscribe import unsubscribe_address
from service.issues.render import CompiledEmail
from service.issues.render_compiled import (
    LINK_SLOT_PREFIX,
    SLOT_NAME,
    SLOT_OPEN_PIXEL,
    SLOT_PREFERENCES,
    SLOT_UNSUBSCRIBE,
)
from service.mail.addresses import wire_form
from service.mail.dkim_sign import DkimSigner
from service.mail.message import ListId, MessageBuilder, MessageParts
from service.mail.site_settings import effective_settings
from service.mail.transport import signer_for
from service.mail.verp import verp_address
from service.model import Campaign, Delivery, MailingList, Subscriber
from service.subscribers.unsubscribe_links import campaign_unsubscribe_token
from service.tokens import CLICK, OPEN, PREFERENCES, make_token

# Campaign contexts kept per process (a worker rarely sends more than one at a time).
CONTEXT_CACHE = 8


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
        signer = self.signer
        return signer.sign(data) if signer is not None else bytes(data)

    @cached_property
    def signer(self) -> DkimSigner | None:
        """The DKIM signer of the campaign's settings, looked up once per context."""
        return signer_for(self.settings)

    def message_id(self, delivery_id: int) -> str:
        """The deterministic Message-ID of a delivery."""
        return self.builder.message_id_for(delivery_id, self.campaign_id, self.secret)

    def mail_from(self, delivery_id: int) -> str:
        """MAIL FROM: the delivery's VERP address at the bounce domain.

        Always VERP, also with TIDINGS_BOUNCE_DOMAIN unset (the bounce domain is then the
        From domain, as the README says): a bounce to it names its delivery even when the
        returned message carries none of our headers.
        """
        return verp_address(delivery_id, self.secret, self.settings.bounce_domain)


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
    # The base URL and DKIM key set in the admin: read with the rest of the context, once
    # per campaign and process, not per batch.
    settings = effective_settings(session, settings)
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
