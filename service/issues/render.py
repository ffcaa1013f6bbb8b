"""Render an issue once per campaign into a responsive CJK email, compiled for cheap filling;
and its web-archive page.

Pipeline (see DESIGN §1, §5 and STANDARDS §4, §6)::

    IssueDoc ─ clean (C0/C1) ─ view model (Markdown → HTML + text, links numbered)
      ├─ Jinja → MJML → mjml-python → premailer (inline sheet only, MSO blocks protected)
      │    → open pixel → split at slot markers ─┐
      └─ Jinja → plain text → split at markers ──┴─ CompiledEmail (+ links, size, warnings)

Per-recipient data never goes through this module: templates receive opaque markers for the
slots (name, unsubscribe/preferences URLs, open pixel, tracked links) and
:meth:`CompiledEmail.fill` substitutes them for each recipient.

This module holds the modes and sizes: which mode is built (``auto`` tries full, then
excerpt when the encoded HTML is over the limit), the preheader and the warnings. The build
of one email is in ``render_email``, the parts the email and the web page share (the
:class:`Layout`, its strings, the footer) in ``render_parts``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from markupsafe import Markup

from service.issues import render_markdown as md
from service.issues.render_compiled import CompiledEmail, MissingSlotError, base64_size
from service.issues.render_email import EmailPass, render_once
from service.issues.render_markdown import LinkInfo
from service.issues.render_parts import (
    WEB_TEMPLATE,
    Layout,
    clean_doc,
    clean_text,
    footer_lines,
    is_http,
    issue_line,
    jinja_env,
    journal_of,
    render_body,
)
from service.issues.structure import IssueDoc
from service.mail.templating import FONT_STACK

__all__ = [
    "CompiledEmail",
    "LinkInfo",
    "MissingSlotError",
    "Mode",
    "RenderedIssue",
    "render_issue",
    "render_web",
]


# Gmail clips at roughly 102 KB; we keep a margin (STANDARDS §6.6).
GMAIL_CLIP_BYTES = 102 * 1024
DEFAULT_MAX_HTML_BYTES = 95_000
# Mail clients show ~40–140 Latin characters of preview, about half that in CJK
# (STANDARDS §6.5): keep it short and truthful.
PREHEADER_MAX_CHARS = 60

Mode = Literal["full", "excerpt", "auto"]
MODES: tuple[str, ...] = ("full", "excerpt", "auto")

log = logging.getLogger(__name__)


@dataclass
class RenderedIssue:
    """The result of :func:`render_issue`."""

    compiled: CompiledEmail
    # Every http(s) link in the content, numbered as the link:N slots (tracked or not).
    links: list[LinkInfo]
    mode_used: str
    # Size of the HTML part as base64 on the wire with worst-case slot values.
    html_size_encoded: int
    warnings: list[str] = field(default_factory=list)
    # Encoded HTML size of every mode rendered on the way (auto renders full first).
    sizes: dict[str, int] = field(default_factory=dict)
    preheader: str = ""


def _default_preheader(doc: IssueDoc, layout: Layout) -> str:
    s = layout.strings
    titles = s["title_sep"].join(a.title for _, a in doc.articles())
    return _truncate(s["preheader"].format(titles=titles), PREHEADER_MAX_CHARS)


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_issue(
    doc: IssueDoc,
    layout: Layout,
    *,
    mode: Mode = "auto",
    tracking: bool = True,
    archive_url: str | None,
    preheader: str | None = None,
    max_html_bytes: int = DEFAULT_MAX_HTML_BYTES,
) -> RenderedIssue:
    """Render ``doc`` once for a campaign and compile it for per-recipient filling.

    ``mode``: ``"full"`` (whole articles), ``"excerpt"`` (leading paragraphs and a 阅读全文 /
    Read more link to ``{archive_url}#{anchor}``) or ``"auto"`` (full unless its encoded HTML
    exceeds ``max_html_bytes``, then excerpt). With ``tracking`` every http(s) content link
    becomes a ``link:N`` slot and an open pixel is added; unsubscribe and preferences links
    are never tracked. ``archive_url`` is the issue's public web page (view in browser);
    None for an issue kept out of the archive: then there is no page to link to, so the
    mail has no such links and is always rendered in full.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if archive_url is None:
        if mode == "excerpt":
            raise ValueError("excerpt mode links to the archive page; this issue has none")
        mode = "full"
    elif not is_http(archive_url):
        raise ValueError("archive_url must be an http(s) URL")
    cleaned, removed = clean_doc(doc)
    warnings: list[str] = []
    if removed:
        warnings.append(f"removed {removed} control character(s) from the content")
    if preheader:
        given = " ".join(clean_text(preheader).split())
        preheader = _truncate(given, PREHEADER_MAX_CHARS)
        if preheader != given:
            warnings.append(f"preheader cut to {PREHEADER_MAX_CHARS} characters")
    else:
        preheader = _default_preheader(cleaned, layout)

    sizes: dict[str, int] = {}
    # auto may render twice; Markdown is parsed once (tokens are only read, never changed).
    parse = functools.cache(md.parse)
    content = "\n".join(
        [cleaned.journal, cleaned.intro, preheader, *(t for pair in cleaned.contact for t in pair)]
        + [f"{sec.title}\n{sec.intro}" for sec in cleaned.sections]
        + [f"{a.title}\n{a.body}\n{a.source or ''}" for _, a in cleaned.articles()]
    )
    order = (
        ["excerpt"] if mode == "excerpt" else ["full"] if mode == "full" else ["full", "excerpt"]
    )
    for attempt in order:
        job = EmailPass(
            cleaned,
            layout,
            excerpt=attempt == "excerpt",
            tracking=tracking,
            archive_url=archive_url,
            preheader=preheader,
            parse=parse,
        )
        compiled, links, view_warnings = render_once(job, content)
        size = base64_size(compiled.html_bytes_worst_case())
        sizes[attempt] = size
        if size <= max_html_bytes:
            break
    if size > max_html_bytes:
        warnings.append(
            f"encoded HTML is {size} bytes in {attempt} mode, over the {max_html_bytes}-byte "
            "limit: Gmail may clip the message and hide the footer (unsubscribe link)"
        )
    warnings.extend(view_warnings)
    for warning in warnings:
        log.warning("render_issue: %s", warning)
    return RenderedIssue(
        compiled=compiled,
        links=links,
        mode_used=attempt,
        html_size_encoded=size,
        warnings=warnings,
        sizes=sizes,
        preheader=preheader,
    )


def render_web(doc: IssueDoc, layout: Layout) -> str:
    """Render the public web-archive page of ``doc``: a full HTML page, full text, no tracking.

    Every article has ``id=anchor`` so excerpt-mode "Read more" links land on it.
    """
    cleaned, _ = clean_doc(doc)
    s = layout.strings
    plain = md.BodyStyles()
    toc: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    number = 0
    for section in cleaned.sections:
        arts: list[dict[str, Any]] = []
        for article in section.articles:
            number += 1
            body = render_body(md.parse(article.body), plain, layout)
            arts.append(
                {
                    "number": number,
                    "title": article.title,
                    "anchor": article.anchor,
                    "source": article.source,
                    "body_html": Markup(body.html),
                }
            )
        toc.append({"title": section.title, "articles": arts})
        sec_intro = (
            render_body(md.parse(section.intro), plain, layout).html if section.intro else ""
        )
        sections.append({"title": section.title, "intro_html": Markup(sec_intro), "articles": arts})
    journal = journal_of(cleaned, layout)
    footer_html, _ = footer_lines(cleaned, layout)
    return (
        jinja_env()
        .get_template(WEB_TEMPLATE)
        .render(
            lang=layout.language,
            s=s,
            title=" ".join(p for p in (journal, cleaned.number or "") if p),
            journal=journal,
            issue_line=issue_line(cleaned),
            logo_url=layout.logo_url,
            primary=layout.primary_color,
            accent=layout.accent_color,
            font_stack=Markup(FONT_STACK.replace("'", '"')),
            intro_html=Markup(render_body(md.parse(cleaned.intro), plain, layout).html),
            toc=toc,
            sections=sections,
            org_name=clean_text(layout.org_name),
            footer_lines=footer_html,
        )
    )
