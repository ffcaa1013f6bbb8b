"""The email of an issue built once: the view model (Markdown → HTML and text, links
numbered), Jinja → MJML → mjml-python → premailer (the inline sheet only, MSO blocks
protected), the open pixel, the plain-text part, both split at the slot markers into a
:class:`CompiledEmail`. Which mode to build and what it weighs is decided in ``render``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mjml
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
    SlotMarkers,
    compile_email,
)
from service.issues.render_markdown import LinkInfo
from service.issues.render_parts import (
    BODY_FONT_SIZE_PX,
    BODY_WIDTH_PX,
    CONTENT_WIDTH_PX,
    EMAIL_TEMPLATE,
    LINE_HEIGHT,
    MUTED_COLOR,
    OUTER_COLOR,
    TEXT_COLOR,
    TEXT_TEMPLATE,
    Layout,
    clean_text,
    footer_lines,
    issue_line,
    jinja_env,
    journal_of,
    logo_box,
    render_body,
)
from service.issues.structure import IssueDoc
from service.mail.templating import FONT_STACK, add_preheader

TEXT_RULE = "=" * 40
TEXT_ARTICLE_RULE = "-" * 40
# First line of the <mj-style inline="inline"> sheet; the only <style> premailer may inline.
INLINE_CSS_MARKER = "/* tidings:inline */"
# Conditional comments: the "downlevel-revealed" opener/closer pair first, so that
# <!--[if !mso]><!--> is not taken for the start of a downlevel-hidden block.
_MSO_BLOCK = re.compile(
    r"<!--\[if [^\]]*\]><!-->|<!--<!\[endif\]-->|<!--\[if [^\]]*\]>.*?<!\[endif\]-->", re.S
)
_MSO_PLACEHOLDER = re.compile(r"<!--tdmso([0-9]+)-->")
_STYLE_OPEN = re.compile(r"<style\b([^>]*)>(\s*)(/\* tidings:inline \*/)?")
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>", re.I)


class RenderError(RuntimeError):
    """The pipeline produced something unsafe to send (e.g. lost an MSO block); a bug."""


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


@dataclass(frozen=True)
class EmailPass:
    """What one build of an issue's email is asked for: the issue, its layout and the mode.

    ``parse`` turns Markdown into tokens; ``render`` hands in a cached one, so that a
    second pass (auto mode) does not parse the articles again.
    """

    doc: IssueDoc
    layout: Layout
    excerpt: bool
    tracking: bool
    archive_url: str | None
    preheader: str
    parse: Callable[[str], list[Token]] = md.parse


@dataclass
class _View:
    """Everything both templates need, HTML and text side by side."""

    context: dict[str, Any]
    text_context: dict[str, Any]
    links: list[LinkInfo]
    warnings: list[str]


def _build_view(job: EmailPass, markers: SlotMarkers) -> _View:
    doc, layout, parse, archive_url = job.doc, job.layout, job.parse, job.archive_url
    s = layout.strings
    styles = _email_styles(layout)
    registry = md.LinkRegistry(tracking=job.tracking, marker=markers)
    warnings: list[str] = []

    def full(markdown: str, anchor: str | None) -> md.Rendered:
        return render_body(parse(markdown), styles, layout, links=registry, anchor=anchor)

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
            if job.excerpt and archive_url:
                chosen, cut = md.excerpt_tokens(tokens)
                body = render_body(chosen, styles, layout, links=registry, anchor=article.anchor)
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

    journal = journal_of(doc, layout)
    footer_html, footer_text = footer_lines(doc, layout)
    name = markers(SLOT_NAME)
    shared = {
        "lang": layout.language,
        "s": s,
        "journal": journal,
        "issue_line": issue_line(doc),
        "archive_url": archive_url,
        "toc": toc,
        "excerpt": job.excerpt,
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
        **logo_box(layout),
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


def render_once(job: EmailPass, content: str) -> tuple[CompiledEmail, list[LinkInfo], list[str]]:
    """Build the email ``job`` asks for: compiled, its links and its warnings.

    ``content`` is all the issue's text, so the slot markers chosen are in none of it.
    """
    markers = SlotMarkers()
    while markers.nonce in content:  # a 48-bit nonce in the text: never, but cheap to rule out
        markers = SlotMarkers()
    view = _build_view(job, markers)
    env = jinja_env()
    mjml_src = env.get_template(EMAIL_TEMPLATE).render(view.context)
    # fonts={}: no web-font <link>s; an @font-face can make Word-engine Outlook fall back to
    # Times New Roman for the whole stack (STANDARDS §6.3).
    html = _premailer_inline(mjml.mjml2html(mjml_src, fonts={}))
    html = add_preheader(html, job.preheader)
    if job.tracking:
        html = _add_pixel(html, markers(SLOT_OPEN_PIXEL))
    text = env.get_template(TEXT_TEMPLATE).render(view.text_context)
    fallback = job.layout.strings["name_fallback"]
    compiled = compile_email(html, _tidy_text(text), markers, fallback)
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
