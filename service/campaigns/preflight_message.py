"""The checks of the rendered message itself (a part of ``service.campaigns.preflight``):
its links answer, the archive page it links to is public, the one-click unsubscribe headers
are there and signed, and its HTML stays under Gmail's clipping limit.
"""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy.orm import Session

from service.campaigns import preflight_links as links
from service.campaigns.preflight_result import (
    ARCHIVE_PUBLIC,
    ERROR,
    EXTERNAL_LINKS,
    HTML_SIZE,
    LIST_UNSUBSCRIBE,
    OWN_LINKS,
    WARNING,
    Check,
)
from service.config import Settings
from service.errors import Message
from service.issues.publishing import archive_url
from service.issues.render import GMAIL_CLIP_BYTES
from service.issues.render_compiled import base64_size
from service.mail import dns_records as dns
from service.model import Campaign, Issue

ONE_CLICK_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")
# Links listed in a detail at most (the rest are counted).
LISTED_LINKS = 5


def _listed(results: list[links.LinkResult]) -> str:
    shown = ", ".join(r.line for r in results[:LISTED_LINKS])
    more = len(results) - LISTED_LINKS
    return shown + (f" (+{more})" if more > 0 else "")


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
