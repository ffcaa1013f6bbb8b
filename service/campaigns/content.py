"""A campaign's content, compiled once when sending starts.

An issue goes through ``render_issue`` (MJML etc.) with the campaign's tracking and mode;
a plain HTML body (until the issue admin lands) gets a footer with the unsubscribe link
and, with tracking, numbered link slots and the open pixel. Either way the result is a
``CompiledEmail`` stored in ``Campaign.compiled`` and the links in the ``links`` table,
so workers only ever fill slots.
"""

from __future__ import annotations

import html
import re

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from service.config import Settings
from service.errors import DomainError
from service.issues.render import CompiledEmail, render_issue
from service.issues.render_compiled import (
    LINK_SLOT_PREFIX,
    SLOT_NAME,
    SLOT_OPEN_PIXEL,
    SLOT_PREFERENCES,
    SLOT_UNSUBSCRIBE,
    SlotMarkers,
    compile_email,
)
from service.issues.structure import IssueDoc
from service.model import Campaign, Issue, Link

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'<>\s]+)\2""", re.I)
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|div|h[1-6]|li|tr|table)>|<br\s*/?>", re.I)
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1>", re.I | re.S)


class ContentError(DomainError, ValueError):
    """The campaign's content cannot be rendered; the message says why."""


Links = list[tuple[int, str, str | None]]


def render_content(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    tracking: bool | None = None,
    *,
    for_test: bool = False,
) -> tuple[CompiledEmail, Links]:
    """Render the campaign's content (nothing stored): the compiled email and its links
    as ``(position, url, article anchor)``. ``tracking`` overrides the campaign's (test
    sends render without it); ``for_test`` links to the archive page with a preview
    token while the issue is not published yet."""
    tracking = campaign.tracking if tracking is None else tracking
    if campaign.issue_id is not None:
        return _from_issue(session, settings, campaign, tracking, for_test)
    if campaign.body_html:
        return _from_html(campaign.body_html, tracking)
    raise ContentError("content.empty", "the campaign has neither an issue nor an HTML body")


def compile_campaign(session: Session, settings: Settings, campaign: Campaign) -> CompiledEmail:
    """Render the campaign's content once and store it (``compiled``, ``links`` rows)."""
    compiled, links = render_content(session, settings, campaign)
    campaign.compiled = compiled.to_dict()
    session.execute(delete(Link).where(Link.campaign_id == campaign.id))
    if links:
        session.execute(
            insert(Link),
            [
                {"campaign_id": campaign.id, "url": url, "position": pos, "article_anchor": anchor}
                for pos, url, anchor in links
            ],
        )
    session.flush()
    return compiled


def load_compiled(campaign: Campaign) -> CompiledEmail:
    """The stored compiled content (raises ``ContentError`` when sending never started)."""
    if not campaign.compiled:
        raise ContentError(
            "content.not_compiled",
            "campaign %(campaign_id)s has not been compiled; start it first",
            campaign_id=campaign.id,
        )
    return CompiledEmail.from_dict(campaign.compiled)


def _issue_doc(issue: Issue) -> IssueDoc:
    if issue.structure:
        return IssueDoc.from_dict(issue.structure)
    if issue.source_data:
        from service.issues.importer import DocumentImportError, import_file

        try:
            return import_file(issue.source_filename, issue.source_data)
        except DocumentImportError as exc:
            raise ContentError(
                "content.unreadable_issue",
                "issue %(issue_id)s cannot be read: %(error)s",
                issue_id=issue.id,
                error=exc.detail,
            ) from exc
    raise ContentError("content.no_content", "issue %(issue_id)s has no content", issue_id=issue.id)


def _from_issue(
    session: Session, settings: Settings, campaign: Campaign, tracking: bool, for_test: bool
) -> tuple[CompiledEmail, Links]:
    issue = session.get(Issue, campaign.issue_id)
    if issue is None:
        raise ContentError(
            "content.issue_gone",
            "issue %(issue_id)s no longer exists",
            issue_id=campaign.issue_id,
        )
    from service.issues.layout import get_layout
    from service.issues.publishing import archive_url, preview_archive_url

    page = preview_archive_url(settings, issue) if for_test else archive_url(settings, issue.slug)
    # A private issue has no public page (its mail goes out in full, without links to
    # one); any other issue is published when the campaign starts.
    rendered = render_issue(
        _issue_doc(issue),
        get_layout(session, settings),
        mode="full" if issue.keep_private else campaign.content_mode,  # type: ignore[arg-type]
        tracking=tracking,
        archive_url=None if issue.keep_private else page,
        preheader=campaign.preheader or None,
    )
    links = [(li.position, li.url, li.anchor_of_article) for li in rendered.links]
    return rendered.compiled, links


def _from_html(body: str, tracking: bool) -> tuple[CompiledEmail, Links]:
    """Compile a plain HTML body: tracked links, a footer with the unsubscribe link."""
    markers = SlotMarkers()
    if markers.nonce in body:
        raise ContentError("content.slot_marker", "the body contains the slot marker; try again")
    links: Links = []

    def track(match: re.Match[str]) -> str:
        position = len(links) + 1
        links.append((position, html.unescape(match.group(3)), None))
        if not tracking:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{markers(f'{LINK_SLOT_PREFIX}{position}')}{quote}"

    tracked = _HREF.sub(track, body)
    footer = (
        f'<p style="font-size:12px;color:#666">'
        f'<a href="{markers(SLOT_UNSUBSCRIBE)}">退订 Unsubscribe</a> · '
        f'<a href="{markers(SLOT_PREFERENCES)}">偏好设置 Preferences</a></p>'
    )
    pixel = (
        f'<img src="{markers(SLOT_OPEN_PIXEL)}" width="1" height="1" alt="" style="display:block">'
        if tracking
        else ""
    )
    page = f"{tracked}{footer}{pixel}"
    text = _text_of(body)
    text_doc = (
        f"{markers(SLOT_NAME)}:\n\n{text}\n\n--\n退订 Unsubscribe: {markers(SLOT_UNSUBSCRIBE)}\n"
        f"偏好设置 Preferences: {markers(SLOT_PREFERENCES)}\n"
    )
    return compile_email(page, text_doc, markers, name_fallback="会员"), links


def _text_of(body: str) -> str:
    """A readable plain-text version of an HTML body (links kept in brackets)."""
    body = _SCRIPT_STYLE.sub("", body)
    body = re.sub(
        r"<a\b[^>]*href=([\"'])(https?://[^\"']+)\1[^>]*>(.*?)</a>",
        lambda m: f"{m.group(3)} ({m.group(2)})",
        body,
        flags=re.I | re.S,
    )
    body = _BLOCK_END.sub("\n", body)
    text = html.unescape(_TAG.sub("", body))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()
