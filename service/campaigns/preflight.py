"""Preflight: what is checked on a campaign's real message before it may be sent.

The message is the one its first recipient would get (``previews.render_message``:
personalised, signed, with its headers). Each check says ``ok`` and its ``level``: a failed
``error`` blocks sending, a failed ``warning`` must be acknowledged. A check that could not
look (no DNS, the service not answering) fails as a warning saying "not checked": nothing
seen is never reported as fine.

DNS records and the signature are errors only when mail leaves this machine through a
relay; with the local capture nothing reaches a receiver that would read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy.orm import Session

from service.campaigns import preflight_links as links
from service.campaigns.drafts import campaign_conditions, campaign_list_ids
from service.campaigns.previews import render_message, render_sample
from service.campaigns.recipients import audience_summary
from service.campaigns.service import no_campaign
from service.config import Settings
from service.errors import DomainError, Message, message_of
from service.issues.publishing import archive_url
from service.issues.render import GMAIL_CLIP_BYTES
from service.issues.render_compiled import base64_size
from service.mail import dns_records as dns
from service.mail.sending_config import get_sending_config, through_relay
from service.mail.site_settings import effective_settings
from service.mail.transport import signer_for
from service.model import Campaign, Issue

ERROR, WARNING = "error", "warning"
# The check names: the command line's and the page's contract.
RECIPIENTS = "recipients"
MESSAGE = "message"
OWN_LINKS = "own_links"
EXTERNAL_LINKS = "external_links"
ARCHIVE_PUBLIC = "archive_public"
SPF = "spf"
DKIM_RECORD = "dkim_record"
DMARC = "dmarc"
DKIM_SIGNATURE = "dkim_signature"
LIST_UNSUBSCRIBE = "list_unsubscribe"
HTML_SIZE = "html_size"
MAIL_FROM_ALIGNMENT = "mail_from_alignment"
ONE_CLICK_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")
# Links listed in a detail at most (the rest are counted).
LISTED_LINKS = 5


@dataclass(frozen=True)
class Check:
    """One check: its stable ``name``, whether it passed, how much a failure weighs."""

    name: str
    ok: bool
    level: str
    detail: Message

    def as_dict(self) -> dict[str, Any]:
        """The check as the command line prints it (the detail in English)."""
        return {"name": self.name, "ok": self.ok, "level": self.level, "detail": self.detail.text}


@dataclass(frozen=True)
class Preflight:
    """Every check of one campaign's message."""

    checks: list[Check] = field(default_factory=list)

    @property
    def errors(self) -> list[Check]:
        """Failed checks that block sending."""
        return [c for c in self.checks if not c.ok and c.level == ERROR]

    @property
    def warnings(self) -> list[Check]:
        """Failed checks that need a person to say they read them."""
        return [c for c in self.checks if not c.ok and c.level == WARNING]

    @property
    def recipients(self) -> int:
        """How many the campaign reaches, suppressed addresses left out (the first check)."""
        found = next((c for c in self.checks if c.name == RECIPIENTS), None)
        return int(found.detail.params["recipients"]) if found is not None else 0

    @property
    def ok(self) -> bool:
        """Nothing blocks sending (warnings may still need acknowledging)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """``{"ok": bool, "checks": [...]}`` (the ``campaign check --json`` contract)."""
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}


class PreflightError(DomainError, RuntimeError):
    """Sending was refused: a check failed (its name is in the message)."""


def refusal(result: Preflight, acknowledged: bool) -> PreflightError | None:
    """Why sending must not start now: a failed error, or warnings not acknowledged."""
    if result.errors:
        return PreflightError(
            "preflight.blocked",
            "sending is blocked by the preflight: %(checks)s",
            checks=", ".join(f"{c.name} ({c.detail.text})" for c in result.errors),
        )
    if result.warnings and not acknowledged:
        return PreflightError(
            "preflight.unacknowledged",
            "the preflight warned (%(checks)s): confirm you have read the warnings",
            checks=", ".join(c.name for c in result.warnings),
        )
    return None


def _listed(results: list[links.LinkResult]) -> str:
    shown = ", ".join(r.line for r in results[:LISTED_LINKS])
    more = len(results) - LISTED_LINKS
    return shown + (f" (+{more})" if more > 0 else "")


def _domain(address: str) -> str:
    return address.rpartition("@")[2].rstrip(".").lower()


# ------------------------------------------------------------------ the checks


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


def check_links(
    session: Session,
    settings: Settings,
    message: EmailMessage,
    fetch_own: links.Fetch,
    fetch_external: links.Fetch | None,
) -> list[Check]:
    """Every link answers: a dead own link is an error, an external one a warning (with
    no ``fetch_external``, links to other sites are not asked and have no check)."""
    report = links.check_links(
        session, settings, links.message_links(message), fetch_own, fetch_external
    )
    own = _own_links_check(settings, report.own)
    return [own] if fetch_external is None else [own, _external_links_check(report.external)]


def _own_links_check(settings: Settings, own: list[links.LinkResult]) -> Check:
    dead = [r for r in own if r.broken]
    if dead:
        return Check(
            OWN_LINKS,
            False,
            ERROR,
            Message.of(
                "preflight.own_links_dead",
                "%(count)s links to this service do not work: %(links)s",
                count=len(dead),
                links=_listed(dead),
            ),
        )
    unanswered = [r for r in own if r.error is not None]
    if unanswered:
        return Check(
            OWN_LINKS,
            False,
            WARNING,
            Message.of(
                "preflight.own_links_not_checked",
                "not checked: the service did not answer at %(base_url)s (%(links)s)",
                base_url=settings.base_url,
                links=_listed(unanswered),
            ),
        )
    return Check(
        OWN_LINKS,
        True,
        ERROR,
        Message.of(
            "preflight.own_links_ok",
            "%(count)s links to this service work",
            count=len(own),
        ),
    )


def _external_links_check(external: list[links.LinkResult]) -> Check:
    failed = [r for r in external if r.broken or r.error is not None]
    if failed:
        return Check(
            EXTERNAL_LINKS,
            False,
            WARNING,
            Message.of(
                "preflight.external_links_failed",
                "%(count)s of %(total)s links to other sites did not answer or answered with an "
                "error: %(links)s",
                count=len(failed),
                total=len(external),
                links=_listed(failed),
            ),
        )
    return Check(
        EXTERNAL_LINKS,
        True,
        WARNING,
        Message.of(
            "preflight.external_links_ok",
            "%(count)s links to other sites answer",
            count=len(external),
        ),
    )


def check_archive(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    message: EmailMessage,
    fetch_own: links.Fetch,
) -> Check:
    """The issue's archive page is public (or is published when sending starts, and then
    shows), when the message links to it."""
    issue = session.get(Issue, campaign.issue_id) if campaign.issue_id else None
    url = archive_url(settings, issue.slug) if issue is not None else None
    if url is None or not any(u.startswith(url) for u in links.message_links(message)):
        return Check(
            ARCHIVE_PUBLIC,
            True,
            ERROR,
            Message.of(
                "preflight.archive_not_linked",
                "the message does not link to the web archive",
            ),
        )
    assert issue is not None
    answer = links.fetched(fetch_own, links.own_url_to_fetch(session, settings, url), url)
    if answer.error is not None:
        return Check(
            ARCHIVE_PUBLIC,
            False,
            WARNING,
            Message.of(
                "preflight.archive_not_checked",
                "not checked: the service did not answer for %(url)s (%(error)s)",
                url=url,
                error=answer.error,
            ),
        )
    if answer.broken:
        return Check(
            ARCHIVE_PUBLIC,
            False,
            ERROR,
            Message.of(
                "preflight.archive_not_public",
                "the archive page %(url)s answers %(status)s",
                url=url,
                status=answer.status,
            ),
        )
    if issue.published_at is None:
        return Check(
            ARCHIVE_PUBLIC,
            True,
            ERROR,
            Message.of(
                "preflight.archive_published_at_start",
                "the archive page %(url)s is published when sending starts",
                url=url,
            ),
        )
    return Check(
        ARCHIVE_PUBLIC,
        True,
        ERROR,
        Message.of("preflight.archive_public", "the archive page %(url)s is public", url=url),
    )


def _not_checked(name: str, exc: BaseException) -> Check:
    return Check(
        name,
        False,
        WARNING,
        Message.of(
            "preflight.dns_not_checked",
            "not checked: no DNS server answered (%(error)s)",
            error=str(exc) or type(exc).__name__,
        ),
    )


def check_spf(resolve: dns.TxtResolver, mail_from_domain: str, level: str) -> Check:
    """One SPF record at the MAIL FROM domain (what receivers check), not open to all."""
    try:
        records = dns.spf_records(resolve, mail_from_domain)
    except dns.DnsUnavailable as exc:
        return _not_checked(SPF, exc)
    if not records:
        return Check(
            SPF,
            False,
            level,
            Message.of(
                "preflight.spf_missing",
                "%(domain)s has no SPF record",
                domain=mail_from_domain,
            ),
        )
    if len(records) > 1:
        return Check(
            SPF,
            False,
            level,
            Message.of(
                "preflight.spf_many",
                "%(domain)s has %(count)s SPF records; receivers treat that as an error",
                domain=mail_from_domain,
                count=len(records),
            ),
        )
    record = records[0]
    if record.lower().split()[-1] in ("+all", "all"):
        return Check(
            SPF,
            False,
            level,
            Message.of(
                "preflight.spf_all",
                "the SPF record of %(domain)s lets any server send: %(record)s",
                domain=mail_from_domain,
                record=record,
            ),
        )
    return Check(
        SPF,
        True,
        level,
        Message.of(
            "preflight.spf_ok", "%(domain)s: %(record)s", domain=mail_from_domain, record=record
        ),
    )


def check_dkim_record(
    resolve: dns.TxtResolver, settings: Settings, from_domain: str, level: str
) -> Check:
    """The configured key is published at its selector, for a domain aligned with From."""
    signer = signer_for(settings)
    if signer is None:
        return Check(
            DKIM_RECORD,
            False,
            level,
            Message.of(
                "preflight.dkim_no_key",
                "no DKIM key is configured: the mail goes out unsigned; generate one under "
                "Settings → DKIM (or set TIDINGS_DKIM_*)",
            ),
        )
    if not dns.aligned(signer.domain, from_domain):
        return Check(
            DKIM_RECORD,
            False,
            level,
            Message.of(
                "preflight.dkim_not_aligned",
                "the DKIM domain %(dkim)s does not align with the From domain %(domain)s",
                dkim=signer.domain,
                domain=from_domain,
            ),
        )
    try:
        published = [dns.tags(r).get("p", "") for r in resolve(signer.dns_name)]
    except dns.DnsUnavailable as exc:
        return _not_checked(DKIM_RECORD, exc)
    wanted = dns.tags(signer.dns_txt_value)["p"]
    if wanted in published:
        return Check(
            DKIM_RECORD,
            True,
            level,
            Message.of(
                "preflight.dkim_record_ok",
                "%(name)s publishes the configured key",
                name=signer.dns_name,
            ),
        )
    params = {"name": signer.dns_name, "value": signer.dns_txt_value}
    detail = (
        Message.of(
            "preflight.dkim_record_other_key",
            "the key published at %(name)s is not the configured key; publish: %(value)s",
            **params,
        )
        if published
        else Message.of(
            "preflight.dkim_record_missing",
            "%(name)s has no DKIM key record; publish: %(value)s",
            **params,
        )
    )
    return Check(DKIM_RECORD, False, level, detail)


def check_dmarc(resolve: dns.TxtResolver, from_domain: str, level: str) -> Check:
    """A DMARC record with a policy covers the From domain."""
    try:
        found = dns.dmarc_record(resolve, from_domain)
    except dns.DnsUnavailable as exc:
        return _not_checked(DMARC, exc)
    if found is None:
        return Check(
            DMARC,
            False,
            level,
            Message.of(
                "preflight.dmarc_missing",
                "%(domain)s has no DMARC record",
                domain=from_domain,
            ),
        )
    where, record = found
    if "p" not in dns.tags(record):
        return Check(
            DMARC,
            False,
            level,
            Message.of(
                "preflight.dmarc_no_policy",
                "the DMARC record of %(domain)s has no p= policy: %(record)s",
                domain=where,
                record=record,
            ),
        )
    return Check(
        DMARC,
        True,
        level,
        Message.of("preflight.dmarc_ok", "%(domain)s: %(record)s", domain=where, record=record),
    )


def check_dkim_signature(resolve: dns.TxtResolver, data: bytes, level: str) -> Check:
    """The message's DKIM signature verifies against the key in DNS."""
    import dkim

    if b"\ndkim-signature:" not in b"\n" + data.split(b"\r\n\r\n", 1)[0].lower():
        return Check(
            DKIM_SIGNATURE,
            False,
            level,
            Message.of("preflight.dkim_unsigned", "the message is not DKIM-signed"),
        )
    unavailable: list[BaseException] = []

    def txt(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            found = resolve(name.decode("ascii").rstrip("."))
        except dns.DnsUnavailable as exc:
            unavailable.append(exc)
            return None
        return found[0].encode() if found else None

    verified = dkim.verify(data, dnsfunc=txt)
    if unavailable:
        return _not_checked(DKIM_SIGNATURE, unavailable[0])
    if not verified:
        return Check(
            DKIM_SIGNATURE,
            False,
            level,
            Message.of(
                "preflight.dkim_bad_signature",
                "the DKIM signature does not verify against the published key",
            ),
        )
    return Check(
        DKIM_SIGNATURE,
        True,
        level,
        Message.of("preflight.dkim_signature_ok", "the DKIM signature verifies"),
    )


def check_list_unsubscribe(message: EmailMessage, level: str) -> Check:
    """List-Unsubscribe and its one-click companion are there and the signature covers them."""
    missing = [h for h in ONE_CLICK_HEADERS if message.get(h) is None]
    if missing:
        # List-Unsubscribe-Post is left out on an http base URL (RFC 8058 needs https):
        # fine for the local capture, not for mail that reaches Gmail or Yahoo.
        return Check(
            LIST_UNSUBSCRIBE,
            False,
            level,
            Message.of(
                "preflight.list_unsubscribe_missing",
                "the message lacks %(headers)s",
                headers=", ".join(missing),
            ),
        )
    signature = str(message.get("DKIM-Signature", ""))
    signed = {h.strip().lower() for h in dns.tags(signature).get("h", "").split(":")}
    uncovered = [h for h in ONE_CLICK_HEADERS if h.lower() not in signed]
    if uncovered:
        return Check(
            LIST_UNSUBSCRIBE,
            False,
            level,
            Message.of(
                "preflight.list_unsubscribe_unsigned",
                "no DKIM signature covers %(headers)s",
                headers=", ".join(uncovered),
            ),
        )
    return Check(
        LIST_UNSUBSCRIBE,
        True,
        ERROR,
        Message.of(
            "preflight.list_unsubscribe_ok",
            "List-Unsubscribe and List-Unsubscribe-Post are present and signed",
        ),
    )


def check_html_size(message: EmailMessage) -> Check:
    """The HTML part, measured as the renderer measures it, stays under Gmail's clip."""
    html = message.get_body(("html",))
    body = html.get_payload(decode=True) if html is not None else b""
    size = base64_size(len(body if isinstance(body, bytes) else b""))
    if size <= GMAIL_CLIP_BYTES:
        detail = Message.of(
            "preflight.html_size_ok",
            "the HTML is %(size)s bytes, under Gmail's %(limit)s-byte clipping limit",
            size=size,
            limit=GMAIL_CLIP_BYTES,
        )
        return Check(HTML_SIZE, True, ERROR, detail)
    detail = Message.of(
        "preflight.html_size_clipped",
        "the HTML is %(size)s bytes, over Gmail's %(limit)s-byte clipping limit: Gmail hides "
        "the rest, the unsubscribe link with it",
        size=size,
        limit=GMAIL_CLIP_BYTES,
    )
    return Check(HTML_SIZE, False, ERROR, detail)


def check_alignment(from_domain: str, mail_from_domain: str) -> Check:
    """MAIL FROM (the VERP return path) is in the From domain: NetEase mailboxes (163.com,
    126.com) show "sent on behalf of" (代发) otherwise."""
    params = {"mail_from": mail_from_domain, "domain": from_domain}
    if dns.aligned(from_domain, mail_from_domain):
        detail = Message.of(
            "preflight.aligned",
            "the return path domain %(mail_from)s aligns with the From domain %(domain)s",
            **params,
        )
        return Check(MAIL_FROM_ALIGNMENT, True, WARNING, detail)
    detail = Message.of(
        "preflight.not_aligned",
        "the return path domain %(mail_from)s is not the From domain %(domain)s: NetEase "
        "mailboxes show the message as sent on someone's behalf",
        **params,
    )
    return Check(MAIL_FROM_ALIGNMENT, False, WARNING, detail)


# ------------------------------------------------------------------ all together


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
