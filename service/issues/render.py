"""Render an issue once per campaign into a responsive CJK email, compiled for cheap filling.

Pipeline (see DESIGN §1, §5 and STANDARDS §4, §6)::

    IssueDoc ─ clean (C0/C1) ─ view model (Markdown → HTML + text, links numbered)
      ├─ Jinja → MJML → mjml-python → premailer (inline sheet only, MSO blocks protected)
      │    → open pixel → split at slot markers ─┐
      └─ Jinja → plain text → split at markers ──┴─ CompiledEmail (+ links, size, warnings)

Per-recipient data never goes through this module: templates receive opaque markers for the
slots (name, unsubscribe/preferences URLs, open pixel, tracked links) and
:meth:`CompiledEmail.fill` substitutes them for each recipient.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import mjml
from jinja2 import Environment
from markdown_it.token import Token
from markupsafe import Markup, escape
from premailer import Premailer

from service.issues import render_markdown as md
from service.issues.render_compiled import (
    SLOT_NAME,
    SLOT_OPEN_PIXEL,
    SLOT_PREFERENCES,
    SLOT_UNSUBSCRIBE,
    CompiledEmail,
    MissingSlotError,
    SlotMarkers,
    base64_size,
    compile_email,
)
from service.issues.render_markdown import LinkInfo
from service.issues.structure import Article, IssueDoc, Section
from service.mail.templating import FONT_STACK, add_preheader, template_env

__all__ = [
    "CompiledEmail",
    "Layout",
    "LinkInfo",
    "MissingSlotError",
    "Mode",
    "RenderError",
    "RenderedIssue",
    "render_issue",
    "render_web",
]

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email" / "newsletter"
EMAIL_TEMPLATE = "newsletter.mjml.j2"
TEXT_TEMPLATE = "newsletter.txt.j2"
WEB_TEMPLATE = "web.html.j2"

# Gmail clips at roughly 102 KB; we keep a margin (STANDARDS §6.6).
GMAIL_CLIP_BYTES = 102 * 1024
DEFAULT_MAX_HTML_BYTES = 95_000
BODY_WIDTH_PX = 600
# The mj-text padding of the body (templates/email/newsletter: padding="0 28px"): an
# article's image is at most the width between them.
TEXT_PADDING_PX = 28
CONTENT_WIDTH_PX = BODY_WIDTH_PX - 2 * TEXT_PADDING_PX
BODY_FONT_SIZE_PX = 16
LINE_HEIGHT = "1.7"
LOGO_WIDTH_PX = 160
TEXT_COLOR = "#222222"
MUTED_COLOR = "#666666"
OUTER_COLOR = "#f3f4f6"
# Mail clients show ~40–140 Latin characters of preview, about half that in CJK
# (STANDARDS §6.5): keep it short and truthful.
PREHEADER_MAX_CHARS = 60
TEXT_RULE = "=" * 40
TEXT_ARTICLE_RULE = "-" * 40
# STANDARDS §6.4: Latin fonts first (CJK fonts' Latin glyphs are poor), then Chinese fonts
# per platform, then the generic family. Single quotes: it lands in style="" attributes.
# First line of the <mj-style inline="inline"> sheet; the only <style> premailer may inline.
INLINE_CSS_MARKER = "/* tidings:inline */"

Mode = Literal["full", "excerpt", "auto"]
MODES: tuple[str, ...] = ("full", "excerpt", "auto")
LANGUAGES: tuple[str, ...] = ("zh-CN", "en")

# Fixed template strings per language.
STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "toc": "目录",
        "read_more": "阅读全文",
        "unsubscribe": "退订",
        "preferences": "偏好设置",
        "view_in_browser": "在浏览器中查看",
        "source": "文章来源：",
        "greeting": "尊敬的{name}，您好！",
        "name_fallback": "会员",
        "image_alt": "文章配图",
        "image_text": "[图片：{alt}]",
        "excerpt_note": "本邮件为摘要版，点击“阅读全文”可在网页上阅读完整文章。",
        "why_received": "您收到此邮件，是因为您订阅了《{journal}》。",
        "preheader": "本期要目：{titles}",
        "title_sep": "；",
        "label_sep": "：",
        "address": "地址",
        "phone": "电话",
        "email": "邮箱",
        "website": "网址",
    },
    "en": {
        "toc": "Contents",
        "read_more": "Read more",
        "unsubscribe": "Unsubscribe",
        "preferences": "Preferences",
        "view_in_browser": "View in browser",
        "source": "Source: ",
        "greeting": "Dear {name},",
        "name_fallback": "member",
        "image_alt": "Article image",
        "image_text": "[Image: {alt}]",
        "excerpt_note": "This email shows excerpts; follow “Read more” for the full articles.",
        "why_received": "You are receiving this email because you subscribed to {journal}.",
        "preheader": "In this issue: {titles}",
        "title_sep": "; ",
        "label_sep": ": ",
        "address": "Address",
        "phone": "Phone",
        "email": "Email",
        "website": "Website",
    },
}

# C0 and C1 control characters (tab and newline kept) plus DEL and the BOM: Gmail clips even
# tiny messages that contain some of them, e.g. U+0092 from cp1252 mojibake (STANDARDS §6.6).
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]")
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")
# Conditional comments: the "downlevel-revealed" opener/closer pair first, so that
# <!--[if !mso]><!--> is not taken for the start of a downlevel-hidden block.
_MSO_BLOCK = re.compile(
    r"<!--\[if [^\]]*\]><!-->|<!--<!\[endif\]-->|<!--\[if [^\]]*\]>.*?<!\[endif\]-->", re.S
)
_MSO_PLACEHOLDER = re.compile(r"<!--tdmso([0-9]+)-->")
_STYLE_OPEN = re.compile(r"<style\b([^>]*)>(\s*)(/\* tidings:inline \*/)?")
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>", re.I)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

log = logging.getLogger(__name__)


class RenderError(RuntimeError):
    """The pipeline produced something unsafe to send (e.g. lost an MSO block); a bug."""


def _logo_box(layout: Layout) -> dict[str, str]:
    """The logo's width and height in the masthead: at most ``LOGO_WIDTH_PX`` wide, the
    height in proportion when the image's size is known (else the client works it out)."""
    if layout.logo_size is None:
        return {"logo_width": f"{LOGO_WIDTH_PX}px", "logo_height": "auto"}
    width, height = layout.logo_size
    shown = min(LOGO_WIDTH_PX, width)
    return {"logo_width": f"{shown}px", "logo_height": f"{round(height * shown / width)}px"}


@dataclass(frozen=True)
class Layout:
    """Branding and footer of a newsletter; fixed strings follow ``language``."""

    journal_name: str = ""
    primary_color: str = "#1d4f91"
    accent_color: str = "#b8322a"
    logo_url: str | None = None
    # The logo's pixel size when known (an uploaded logo): the header gives it to the
    # mail client. Not a field staff type (``service.issues.layout`` leaves it out).
    logo_size: tuple[int, int] | None = None
    org_name: str = ""
    address: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""
    language: str = "zh-CN"

    def __post_init__(self) -> None:
        # Colours go into CSS and URLs into attributes: validate them instead of escaping.
        for name in ("primary_color", "accent_color"):
            if not _HEX_COLOR.fullmatch(getattr(self, name)):
                raise ValueError(f"Layout.{name} must be a #rgb or #rrggbb colour")
        if self.logo_url and not _is_http(self.logo_url):
            raise ValueError("Layout.logo_url must be an http(s) URL")
        if self.logo_size is not None:  # a JSON round trip gives a list back
            width, height = (int(n) for n in self.logo_size)
            if width <= 0 or height <= 0:
                raise ValueError("Layout.logo_size must be two positive numbers")
            object.__setattr__(self, "logo_size", (width, height))
        if self.language not in LANGUAGES:
            raise ValueError(f"Layout.language must be one of {LANGUAGES}")

    @property
    def strings(self) -> dict[str, str]:
        """The fixed template strings of this layout's language."""
        return STRINGS[self.language]


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


# ---- helpers -------------------------------------------------------------------------------


def _is_http(url: str) -> bool:
    return url.lower().startswith(md.TRACKABLE_SCHEMES)


def clean_text(text: str) -> str:
    """Normalise newlines and strip C0/C1 control characters (tab and newline kept)."""
    return _CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _clean_doc(doc: IssueDoc) -> tuple[IssueDoc, int]:
    """Return a control-character-free copy of ``doc`` and how many characters were removed."""
    removed = 0

    def c(text: str) -> str:
        nonlocal removed
        out = clean_text(text)
        removed += len(text) - len(out) - text.count("\r\n")
        return out

    def opt(text: str | None) -> str | None:
        return c(text) if text is not None else None

    sections = [
        Section(
            title=c(s.title),
            articles=[
                Article(title=c(a.title), body=c(a.body), source=opt(a.source), anchor=c(a.anchor))
                for a in s.articles
            ],
            intro=c(getattr(s, "intro", "") or ""),
        )
        for s in doc.sections
    ]
    cleaned = IssueDoc(
        journal=c(doc.journal),
        number=opt(doc.number),
        date=opt(doc.date),
        intro=c(doc.intro),
        sections=sections,
        contact=[(c(label), c(value)) for label, value in doc.contact],
    )
    return cleaned, removed


def _email_styles(layout: Layout) -> md.BodyStyles:
    """Inline styles of article bodies in the email (see render_markdown for why inline)."""
    return md.BodyStyles(
        # No inline margin on <p>: the demo issue has ~340 paragraphs, and MJML's head reset
        # (p { margin: 13px 0 }) or the client default spaces them well enough; inlining
        # would cost ~12 KB of the Gmail clipping budget.
        p="",
        h=f"margin:22px 0 10px;font-size:18px;line-height:1.5;color:{layout.primary_color};",
        h_small="margin:18px 0 8px;font-size:16px;line-height:1.5;",
        ul="margin:0 0 16px;padding:0 0 0 24px;",
        ol="margin:0 0 16px;padding:0 0 0 24px;",
        li="margin:0 0 6px;",
        a=f"color:{layout.accent_color};text-decoration:underline;",
        img="display:block;max-width:100%;height:auto;border:0;margin:0 auto;",
        img_max_width=CONTENT_WIDTH_PX,
        blockquote=f"margin:0 0 16px;padding:0 0 0 12px;border-left:3px solid "
        f"{layout.accent_color};color:{MUTED_COLOR};",
        pre="margin:0 0 16px;white-space:pre-wrap;font-family:Menlo,Consolas,monospace;"
        "font-size:14px;",
        code="font-family:Menlo,Consolas,monospace;",
        hr="border:0;border-top:1px solid #e3e5e8;margin:16px 0;",
    )


def _markdown(
    tokens: list[Token],
    styles: md.BodyStyles,
    layout: Layout,
    *,
    links: md.LinkRegistry | None = None,
    anchor: str | None = None,
) -> md.Rendered:
    s = layout.strings
    return md.render(
        tokens,
        styles,
        links=links,
        anchor=anchor,
        image_alt=s["image_alt"],
        image_text=s["image_text"],
    )


def _issue_line(doc: IssueDoc) -> str:
    return " · ".join(part for part in (doc.number, doc.date) if part)


def _journal(doc: IssueDoc, layout: Layout) -> str:
    return clean_text(layout.journal_name) or doc.journal


def _default_preheader(doc: IssueDoc, layout: Layout) -> str:
    s = layout.strings
    titles = s["title_sep"].join(a.title for _, a in doc.articles())
    return _truncate(s["preheader"].format(titles=titles), PREHEADER_MAX_CHARS)


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _footer(doc: IssueDoc, layout: Layout) -> tuple[list[Markup], list[str]]:
    """Footer contact lines as (HTML, text): Layout fields, then the issue's own contacts."""
    s = layout.strings
    sep = s["label_sep"]
    entries = [
        (s["address"], layout.address),
        (s["phone"], layout.phone),
        (s["email"], layout.email),
        (s["website"], layout.website),
    ]
    seen = {_norm(v) for _, v in entries if v}
    entries += [(label, value) for label, value in doc.contact if _norm(value) not in seen]
    html: list[Markup] = []
    text: list[str] = []
    for label, value in entries:
        value = clean_text(value).strip()
        if not value:
            continue
        html.append(Markup("{}{}{}").format(label, sep, _contact_html(value)))
        text.append(f"{label}{sep}{value}")
    return html, text


def _norm(value: str) -> str:
    v = value.strip().lower()
    for prefix in ("mailto:", "https://", "http://", "www."):
        v = v.removeprefix(prefix)
    return v.rstrip("/")


def _contact_html(value: str) -> Markup:
    # Contacts are plain text; make the obvious ones clickable. They are never tracked.
    if _EMAIL.match(value):
        return Markup('<a href="mailto:{0}">{0}</a>').format(value)
    if _is_http(value):
        return Markup('<a href="{0}">{0}</a>').format(value)
    if value.lower().startswith("www."):
        return Markup('<a href="http://{0}">{0}</a>').format(value)
    return Markup("{}").format(value)


def _jinja() -> Environment:
    return template_env(TEMPLATE_DIR)


# ---- view model ------------------------------------------------------------------------------


@dataclass
class _View:
    """Everything both templates need, HTML and text side by side."""

    context: dict[str, Any]
    text_context: dict[str, Any]
    links: list[LinkInfo]
    warnings: list[str]


def _build_view(
    doc: IssueDoc,
    layout: Layout,
    *,
    excerpt: bool,
    tracking: bool,
    archive_url: str | None,
    preheader: str,
    markers: SlotMarkers,
    parse: Callable[[str], list[Token]] = md.parse,
) -> _View:
    s = layout.strings
    styles = _email_styles(layout)
    registry = md.LinkRegistry(tracking=tracking, marker=markers)
    warnings: list[str] = []

    def full(markdown: str, anchor: str | None) -> md.Rendered:
        return _markdown(parse(markdown), styles, layout, links=registry, anchor=anchor)

    intro = full(doc.intro, None)
    toc: list[dict[str, Any]] = []
    sections_html: list[dict[str, Any]] = []
    sections_text: list[dict[str, Any]] = []
    number = 0
    for section in doc.sections:
        sec_intro = full(section.intro, None) if section.intro else md.Rendered("", "")
        toc_arts: list[dict[str, Any]] = []
        arts_html: list[dict[str, Any]] = []
        arts_text: list[dict[str, Any]] = []
        for article in section.articles:
            number += 1
            tokens = parse(article.body)
            read_more: str | None = None
            if excerpt and archive_url:
                chosen, cut = md.excerpt_tokens(tokens)
                body = _markdown(chosen, styles, layout, links=registry, anchor=article.anchor)
                if cut is not None:
                    body.html += f"<p>{escape(cut)}</p>"
                    body.text = f"{body.text}\n\n{cut}".strip()
                # Every article gets the link, even one short enough to be shown whole: the
                # archive page is the complete version (images, tables) and readers should
                # find the same way there under every article.
                read_more = registry.href(
                    f"{archive_url}#{article.anchor}", article.anchor, kind="read_more"
                )
            else:
                body = full(article.body, article.anchor)
            if 'alt="' + s["image_alt"] + '"' in body.html:
                warnings.append(
                    f"article {article.anchor}: image(s) without alt text got "
                    f"the default alt {s['image_alt']!r}"
                )
            toc_arts.append({"number": number, "title": article.title, "anchor": article.anchor})
            common = {
                "number": number,
                "title": article.title,
                "anchor": article.anchor,
                "source": article.source,
                "read_more_href": read_more,
            }
            arts_html.append({**common, "body_html": Markup(body.html)})
            arts_text.append({**common, "body_text": body.text})
        toc.append({"title": section.title, "articles": toc_arts})
        sections_html.append(
            {"title": section.title, "intro_html": Markup(sec_intro.html), "articles": arts_html}
        )
        sections_text.append(
            {"title": section.title, "intro_text": sec_intro.text, "articles": arts_text}
        )

    journal = _journal(doc, layout)
    footer_html, footer_text = _footer(doc, layout)
    name = markers(SLOT_NAME)
    shared = {
        "lang": layout.language,
        "s": s,
        "journal": journal,
        "issue_line": _issue_line(doc),
        "archive_url": archive_url,
        "toc": toc,
        "excerpt": excerpt,
        "org_name": clean_text(layout.org_name),
        "unsubscribe_href": markers(SLOT_UNSUBSCRIBE),
        "preferences_href": markers(SLOT_PREFERENCES),
        "why_received": s["why_received"].format(journal=journal),
    }
    context = {
        **shared,
        "title": " ".join(p for p in (journal, doc.number or "") if p),
        "font_stack": Markup(FONT_STACK),
        "body_font_size": f"{BODY_FONT_SIZE_PX}px",
        "line_height": LINE_HEIGHT,
        "text_color": TEXT_COLOR,
        "muted_color": MUTED_COLOR,
        "outer_color": OUTER_COLOR,
        "primary": layout.primary_color,
        "accent": layout.accent_color,
        "body_width": f"{BODY_WIDTH_PX}px",
        "logo_url": layout.logo_url,
        **_logo_box(layout),
        "inline_marker": Markup(INLINE_CSS_MARKER),
        "greeting_html": escape(s["greeting"]).replace("{name}", name),
        "intro_html": Markup(intro.html),
        "sections": sections_html,
        "footer_lines": footer_html,
    }
    text_context = {
        **shared,
        "greeting": s["greeting"].format(name=name),
        "intro_text": intro.text,
        "sections": sections_text,
        "footer_lines": footer_text,
        "rule": TEXT_RULE,
        "art_rule": TEXT_ARTICLE_RULE,
    }
    return _View(context, text_context, registry.links, warnings)


# ---- HTML post-processing ----------------------------------------------------------------------


def _premailer_inline(html: str) -> str:
    """Inline the ``mj-style inline`` sheet with premailer, keeping everything else intact.

    mjml-python (MRML) leaves ``mj-style inline="inline"`` as a plain <style>, so premailer
    does the inlining. Three protections (STANDARDS §6.2):

    * conditional comments are swapped for placeholders first: premailer/lxml must not get a
      chance to touch Outlook-only markup (peterbe/premailer #193, Ruby premailer #238);
    * every other <style> (MJML's resets, media queries, dark mode) is marked
      ``data-premailer="ignore"``: inlining MJML's resets into every <td> would add ~20 % to
      the size, and the head rules must stay rules;
    * the doctype is re-added: premailer compares it case-sensitively and drops MRML's
      lower-case ``<!doctype html>``.
    """
    blocks: list[str] = []

    def protect(match: re.Match[str]) -> str:
        blocks.append(match.group(0))
        return f"<!--tdmso{len(blocks) - 1}-->"

    def mark(match: re.Match[str]) -> str:
        if match.group(3):  # our inline sheet: leave it to premailer
            return match.group(0)
        return f'<style data-premailer="ignore"{match.group(1)}>{match.group(2)}'

    media_before = html.count("@media")
    body = _DOCTYPE.sub("", _MSO_BLOCK.sub(protect, html), count=1)
    body = _STYLE_OPEN.sub(mark, body)
    out = Premailer(
        body,
        keep_style_tags=True,
        strip_important=False,
        remove_classes=False,
        allow_network=False,
        # No bgcolor/align/width attributes derived from the inline sheet: MJML already set
        # what Outlook needs, and the rest would be invalid on <p>/<h2>.
        disable_basic_attributes=["align", "valign", "bgcolor", "width", "height"],
        cssutils_logging_level=logging.CRITICAL,
    ).transform(pretty_print=False)
    restored = 0

    def restore(match: re.Match[str]) -> str:
        nonlocal restored
        restored += 1
        return blocks[int(match.group(1))]

    # premailer skips (and so keeps) the marker on <style media="…"> tags.
    out = out.replace(' data-premailer="ignore"', "")
    out = "<!doctype html>" + _MSO_PLACEHOLDER.sub(restore, out)
    if restored != len(blocks):
        raise RenderError(f"premailer lost MSO blocks: {restored} of {len(blocks)} restored")
    if out.count("@media") != media_before:
        raise RenderError("premailer changed the @media rules")
    return out


def _add_pixel(html: str, src: str) -> str:
    # STANDARDS §4: at the very end, alt="", 1×1, and no display:none (clients skip it).
    pixel = f'<img src="{src}" alt="" width="1" height="1" style="border:0;width:1px;height:1px;">'
    at = html.rfind("</body>")
    if at < 0:
        raise RenderError("no </body> in rendered HTML")
    return html[:at] + pixel + html[at:]


def _render_once(
    doc: IssueDoc,
    layout: Layout,
    *,
    excerpt: bool,
    tracking: bool,
    archive_url: str | None,
    preheader: str,
    parse: Callable[[str], list[Token]],
    content: str,
) -> tuple[CompiledEmail, list[LinkInfo], list[str]]:
    markers = SlotMarkers()
    while markers.nonce in content:  # a 48-bit nonce in the text: never, but cheap to rule out
        markers = SlotMarkers()
    view = _build_view(
        doc,
        layout,
        excerpt=excerpt,
        tracking=tracking,
        archive_url=archive_url,
        preheader=preheader,
        markers=markers,
        parse=parse,
    )
    env = _jinja()
    mjml_src = env.get_template(EMAIL_TEMPLATE).render(view.context)
    # fonts={}: no web-font <link>s; an @font-face can make Word-engine Outlook fall back to
    # Times New Roman for the whole stack (STANDARDS §6.3).
    html = _premailer_inline(mjml.mjml2html(mjml_src, fonts={}))
    html = add_preheader(html, preheader)
    if tracking:
        html = _add_pixel(html, markers(SLOT_OPEN_PIXEL))
    text = env.get_template(TEXT_TEMPLATE).render(view.text_context)
    compiled = compile_email(html, _tidy_text(text), markers, layout.strings["name_fallback"])
    return compiled, view.links, view.warnings


def _tidy_text(text: str) -> str:
    # Templates are written for readability; collapse runs of blank lines they leave.
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if not line and len(out) >= 2 and out[-1] == "" and out[-2] == "":
            continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


# ---- public API ----------------------------------------------------------------------------------


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
    elif not _is_http(archive_url):
        raise ValueError("archive_url must be an http(s) URL")
    cleaned, removed = _clean_doc(doc)
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
        compiled, links, view_warnings = _render_once(
            cleaned,
            layout,
            excerpt=attempt == "excerpt",
            tracking=tracking,
            archive_url=archive_url,
            preheader=preheader,
            parse=parse,
            content=content,
        )
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
    cleaned, _ = _clean_doc(doc)
    s = layout.strings
    plain = md.BodyStyles()
    toc: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    number = 0
    for section in cleaned.sections:
        arts: list[dict[str, Any]] = []
        for article in section.articles:
            number += 1
            body = _markdown(md.parse(article.body), plain, layout)
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
        sec_intro = _markdown(md.parse(section.intro), plain, layout).html if section.intro else ""
        sections.append({"title": section.title, "intro_html": Markup(sec_intro), "articles": arts})
    journal = _journal(cleaned, layout)
    footer_html, _ = _footer(cleaned, layout)
    return (
        _jinja()
        .get_template(WEB_TEMPLATE)
        .render(
            lang=layout.language,
            s=s,
            title=" ".join(p for p in (journal, cleaned.number or "") if p),
            journal=journal,
            issue_line=_issue_line(cleaned),
            logo_url=layout.logo_url,
            primary=layout.primary_color,
            accent=layout.accent_color,
            font_stack=Markup(FONT_STACK.replace("'", '"')),
            intro_html=Markup(_markdown(md.parse(cleaned.intro), plain, layout).html),
            toc=toc,
            sections=sections,
            org_name=clean_text(layout.org_name),
            footer_lines=footer_html,
        )
    )
