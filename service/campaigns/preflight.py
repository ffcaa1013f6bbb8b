"""Preflight: what is checked on a campaign's real message before it may be sent.

The message is the one its first recipient would get (``previews.render_message``:
personalised, signed, with its headers). Each check says ``ok`` and its ``level``: a failed
``error`` blocks sending, a failed ``warning`` must be acknowledged. A check that could not
look (no DNS, the service not answering) fails as a warning saying "not checked": nothing
seen is never reported as fine.

DNS records and the signature are errors only when mail leaves this machine through a
relay; with the local capture nothing reaches a receiver that would read them.

Here the recipients are counted and the message rendered; the checks of the message are in
``preflight_message`` (links, archive, headers, size) and ``preflight_auth`` (SPF, DKIM,
DMARC, alignment), what a preflight says in ``preflight_result``.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy.orm import Session

from service.campaigns import preflight_links as links
from service.campaigns.drafts import campaign_conditions, campaign_list_ids
from service.campaigns.preflight_auth import (
    check_alignment,
    check_dkim_record,
    check_dkim_signature,
    check_dmarc,
    check_spf,
)
from service.campaigns.preflight_message import (
    check_archive,
    check_html_size,
    check_links,
    check_list_unsubscribe,
)
from service.campaigns.preflight_result import (
    ERROR,
    MESSAGE,
    RECIPIENTS,
    WARNING,
    Check,
    Preflight,
)
from service.campaigns.previews import render_message, render_sample
from service.campaigns.recipients import audience_summary
from service.campaigns.service import no_campaign
from service.config import Settings
from service.errors import Message, message_of
from service.mail import dns_records as dns
from service.mail.sending_config import get_sending_config, through_relay
from service.mail.site_settings import effective_settings
from service.model import Campaign


def _domain(address: str) -> str:
    return address.rpartition("@")[2].rstrip(".").lower()


def check_recipients(session: Session, campaign: Campaign) -> tuple[Check, str | None]:
    """How many the campaign reaches (its lists' members who match its segment, if it has
    one) and how many suppressed addresses it leaves out (for information), and the first
    recipient's address (None: nobody)."""
    summary = audience_summary(
        session, campaign_list_ids(session, campaign.id), campaign_conditions(session, campaign.id)
    )
    check = Check(
        RECIPIENTS,
        True,
        WARNING,
        Message.of(
            "preflight.recipients",
            "%(recipients)s recipients; %(suppressed)s suppressed addresses left out",
            recipients=summary.recipients,
            suppressed=summary.suppressed,
        ),
    )
    return check, summary.first


def _unrendered(exc: BaseException) -> Check:
    return Check(
        MESSAGE,
        False,
        ERROR,
        Message.of(
            "preflight.not_rendered",
            "the message could not be rendered: %(error)s",
            error=message_of(exc),
        ),
    )


def run_preflight(
    session: Session,
    settings: Settings,
    campaign_id: int,
    *,
    fetch_own: links.Fetch = links.http_fetch,
    fetch_external: links.Fetch | None = links.http_fetch,
    resolve: dns.TxtResolver | None = None,
) -> Preflight:
    """Every check of the campaign's message as its first recipient would get it.

    Renders that message (``render_message``: compiles a campaign not started yet and
    reserves the recipient's delivery row; commits). ``fetch_own`` asks this service,
    ``fetch_external`` the web (None: links to other sites are left out; they can only
    warn), ``resolve`` DNS (default: the public DNS, when this machine sees it). Raises
    ``TransitionError`` for a campaign that does not exist.
    """
    resolve = resolve or dns.PublicDns()
    settings = effective_settings(session, settings)  # the key generated in the admin
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise no_campaign(campaign_id)
    recipients, first = check_recipients(session, campaign)
    checks = [recipients]
    try:
        if first is not None:
            data = render_message(session, settings, campaign_id, first)
        else:  # nobody on the lists yet: the same message for a sample recipient
            data = render_sample(session, settings, campaign_id)
    except (LookupError, ValueError) as exc:  # ContentError and InvalidAddress included
        session.rollback()
        return Preflight([*checks, _unrendered(exc)])
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return Preflight(
        [
            *checks,
            *_message_checks(
                session, settings, campaign, message, data, fetch_own, fetch_external, resolve
            ),
        ]
    )


def _message_checks(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    message: EmailMessage,
    data: bytes,
    fetch_own: links.Fetch,
    fetch_external: links.Fetch | None,
    resolve: dns.TxtResolver,
) -> list[Check]:
    # Receivers read DNS and the signature only of mail that reaches them.
    level = ERROR if through_relay(settings, get_sending_config(session)) else WARNING
    from_domain = _domain(campaign.from_addr)
    mail_from_domain = settings.bounce_domain.rstrip(".").lower() or from_domain
    return [
        Check(
            MESSAGE,
            True,
            ERROR,
            Message.of("preflight.rendered", "rendered for %(email)s", email=str(message["To"])),
        ),
        *check_links(session, settings, message, fetch_own, fetch_external),
        check_archive(session, settings, campaign, message, fetch_own),
        check_spf(resolve, mail_from_domain, level),
        check_dkim_record(resolve, settings, from_domain, level),
        check_dmarc(resolve, from_domain, level),
        check_dkim_signature(resolve, data, level),
        check_list_unsubscribe(message, level),
        check_html_size(message),
        check_alignment(from_domain, mail_from_domain),
    ]
