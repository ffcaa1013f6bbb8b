"""The admin preview of an issue: rendered as a campaign would render it, filled with
sample values (never a subscriber's), with a sample message's headers and the size of each
mode (what it costs, and which one ``auto`` picks).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from urllib.parse import urlsplit

from service.config import Settings
from service.issues.publishing import archive_url
from service.issues.render import DEFAULT_MAX_HTML_BYTES, Mode, RenderedIssue, render_issue
from service.issues.render_parts import Layout
from service.issues.structure import IssueDoc
from service.model import Issue

__all__ = [
    "Preview",
    "preview",
    "render_for_preview",
    "sample_values",
]

# Preview: who the sample message is addressed to, and the slot values used (never a real
# subscriber's data).
SAMPLE_NAME = "会员"
SAMPLE_EMAIL = "member@example.org"
SAMPLE_LINK = "#"
# A 1×1 transparent GIF: the open pixel of a preview must not call the tracking endpoint.
SAMPLE_PIXEL = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
SAMPLE_LIST_LABEL = "newsletter"
PREVIEW_CACHE_SIZE = 8


@functools.lru_cache(maxsize=PREVIEW_CACHE_SIZE)
def _render_cached(structure: str, layout: str, mode: Mode, url: str) -> RenderedIssue:
    # The preview page and its two iframes render the same issue within a second: cache by
    # content, so an edit or a layout change is always seen.
    return render_issue(
        IssueDoc.from_dict(json.loads(structure)),
        Layout(**json.loads(layout)),
        mode=mode,
        archive_url=url,
    )


def render_for_preview(
    issue: Issue, layout: Layout, settings: Settings, mode: Mode = "auto"
) -> RenderedIssue:
    """Render the issue as a campaign would (tracking on, so the size is the real one)."""
    return _render_cached(
        json.dumps(issue.structure, sort_keys=True, ensure_ascii=False),
        json.dumps(layout.__dict__, sort_keys=True, ensure_ascii=False),
        mode,
        archive_url(settings, issue.slug),
    )


def sample_values(rendered: RenderedIssue) -> dict[str, str]:
    """Slot values of the preview: a sample name and inert links, never a subscriber's."""
    values = {
        "name": SAMPLE_NAME,
        "unsubscribe_url": SAMPLE_LINK,
        "preferences_url": SAMPLE_LINK,
        "open_pixel_url": SAMPLE_PIXEL,
    }
    values.update(dict.fromkeys(rendered.compiled.link_slots, SAMPLE_LINK))
    return values


@dataclass
class Preview:
    """What the admin preview shows: one mode's message and the size report of all modes."""

    mode: str
    # The mode actually shown ("full" or "excerpt"); for mode="auto" the one auto picks.
    mode_used: str
    auto_picks: str
    html: str
    text: str
    headers: list[tuple[str, str]]
    # Encoded (base64, worst-case slots) HTML size per concrete mode, and the limit.
    sizes: dict[str, int]
    limit: int
    warnings: list[str] = field(default_factory=list)

    @property
    def html_bytes(self) -> int:
        """Encoded HTML size of the message shown."""
        return self.sizes[self.mode_used]


def _sample_headers(
    issue: Issue, settings: Settings, html: str, text: str
) -> list[tuple[str, str]]:
    """The headers of a sample message of this issue (STANDARDS §2.1), decoded."""
    from service.mail.message import ListId, MessageBuilder, MessageParts

    domain = settings.from_addr.rpartition("@")[2]
    builder = MessageBuilder(
        MessageParts(
            from_name=settings.from_name,
            from_addr=settings.from_addr,
            subject=" ".join(p for p in (issue.title, issue.number) if p),
            list_id=ListId(SAMPLE_LIST_LABEL, domain, issue.title or None),
            message_id_domain=domain,
            tz=settings.timezone,
        )
    )
    # List-Unsubscribe must be https (RFC 8058); the sample shows its shape.
    host = urlsplit(settings.base_url).netloc or domain
    raw = builder.build(
        SAMPLE_EMAIL,
        SAMPLE_NAME,
        html,
        text,
        f"https://{host}/unsubscribe/SAMPLE",
        f"<preview.{issue.id}@{domain}>",
    )
    parsed = BytesHeaderParser(policy=default_policy).parsebytes(bytes(raw))
    return [(name, str(value)) for name, value in parsed.items()]


def _headers_or_problem(
    issue: Issue, settings: Settings, html: str, text: str
) -> list[tuple[str, str]]:
    # The builder refuses what it could not send (e.g. a control character in the title);
    # the preview then says so where the headers would be instead of failing as a whole.
    try:
        return _sample_headers(issue, settings, html, text)
    except ValueError as exc:
        return [("(error)", str(exc))]


def preview(
    issue: Issue,
    layout: Layout,
    settings: Settings,
    mode: Mode = "auto",
    limit: int = DEFAULT_MAX_HTML_BYTES,
) -> Preview:
    """Render the issue for the admin preview: filled HTML and text, headers, size report.

    Both concrete modes are rendered (cached) so the report can say what each costs and
    which one ``auto`` picks, exactly as :func:`render_issue` decides it.
    """
    full = render_for_preview(issue, layout, settings, "full")
    excerpt = render_for_preview(issue, layout, settings, "excerpt")
    sizes = {"full": full.html_size_encoded, "excerpt": excerpt.html_size_encoded}
    auto_picks = "full" if sizes["full"] <= limit else "excerpt"
    mode_used = auto_picks if mode == "auto" else mode
    rendered = full if mode_used == "full" else excerpt
    html, text = rendered.compiled.fill(sample_values(rendered))
    return Preview(
        mode=mode,
        mode_used=mode_used,
        auto_picks=auto_picks,
        html=html,
        text=text,
        headers=_headers_or_problem(issue, settings, html, text),
        sizes=sizes,
        limit=limit,
        warnings=[w for w in rendered.warnings if "over the" not in w],
    )
