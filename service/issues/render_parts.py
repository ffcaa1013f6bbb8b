"""The parts of a rendered issue that the email and the web-archive page share: the
:class:`Layout` (branding, footer, language) and its fixed strings, the sizes and colours of
the design, control characters cleaned out of the content, the masthead's lines, the footer's
contacts, Markdown rendered with a layout's strings, and the templates' Jinja environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment
from markdown_it.token import Token
from markupsafe import Markup

from service.issues import render_markdown as md
from service.issues.structure import Article, IssueDoc, Section
from service.mail.templating import template_env

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email" / "newsletter"
EMAIL_TEMPLATE = "newsletter.mjml.j2"
TEXT_TEMPLATE = "newsletter.txt.j2"
WEB_TEMPLATE = "web.html.j2"

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
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def logo_box(layout: Layout) -> dict[str, str]:
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
        if self.logo_url and not is_http(self.logo_url):
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


def is_http(url: str) -> bool:
    """Whether ``url`` is an http(s) URL (the only kind put into attributes or tracked)."""
    return url.lower().startswith(md.TRACKABLE_SCHEMES)


def clean_text(text: str) -> str:
    """Normalise newlines and strip C0/C1 control characters (tab and newline kept)."""
    return _CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def clean_doc(doc: IssueDoc) -> tuple[IssueDoc, int]:
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


def render_body(
    tokens: list[Token],
    styles: md.BodyStyles,
    layout: Layout,
    *,
    links: md.LinkRegistry | None = None,
    anchor: str | None = None,
) -> md.Rendered:
    """Markdown tokens as HTML and text, images described in the layout's language."""
    s = layout.strings
    return md.render(
        tokens,
        styles,
        links=links,
        anchor=anchor,
        image_alt=s["image_alt"],
        image_text=s["image_text"],
    )


def issue_line(doc: IssueDoc) -> str:
    """The masthead's line under the name: issue number and date."""
    return " · ".join(part for part in (doc.number, doc.date) if part)


def journal_of(doc: IssueDoc, layout: Layout) -> str:
    """The journal's name: the layout's when set, else the issue's own."""
    return clean_text(layout.journal_name) or doc.journal


def footer_lines(doc: IssueDoc, layout: Layout) -> tuple[list[Markup], list[str]]:
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
    if is_http(value):
        return Markup('<a href="{0}">{0}</a>').format(value)
    if value.lower().startswith("www."):
        return Markup('<a href="http://{0}">{0}</a>').format(value)
    return Markup("{}").format(value)


def jinja_env() -> Environment:
    """The Jinja environment of the newsletter's templates."""
    return template_env(TEMPLATE_DIR)
