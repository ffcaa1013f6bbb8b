"""The public web archive of published issues and its Atom feed (no login).

``/archive/<slug>`` is the page the excerpt-mode 「阅读全文」 links and the "view in browser"
link of every email point at; each article has its anchor (``#a1`` …) there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import defer

from service.issues import publishing, store
from service.issues.layout import get_layout
from service.issues.render import render_web
from service.model import Issue
from service.subscribers.public_lists import public_lists
from service.web.context import db_session, mail_settings, settings

bp = Blueprint("archive", __name__, url_prefix="/archive")
PAGE_SIZE = 30
FEED_ENTRIES = 50
ATOM_NS = "http://www.w3.org/2005/Atom"
_MAIN_OPEN = "<main>"
_HEAD_CLOSE = "</head>"


def _published() -> Any:
    return select(Issue).options(defer(Issue.source_data)).where(Issue.published_at.is_not(None))


def _base() -> str:
    # The public base URL set in the admin, unless TIDINGS_BASE_URL pins it.
    return mail_settings().base_url.rstrip("/")


@bp.route("/")
def index() -> Any:
    """Published issues, newest first."""
    session = db_session()
    page = max(request.args.get("page", type=int) or 1, 1)
    total = session.scalar(select(func.count(Issue.id)).where(Issue.published_at.is_not(None))) or 0
    if page > 1 and (page - 1) * PAGE_SIZE >= total:
        abort(404)  # past the last page (and no huge OFFSET for the database to refuse)
    rows = session.scalars(
        _published()
        .order_by(Issue.published_at.desc(), Issue.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    issues = [{"row": row, "doc": store.load_doc(row)} for row in rows]
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    layout = get_layout(session, settings())
    return render_template(
        "archive/index.html",
        issues=issues,
        page=page,
        pages=pages,
        layout=layout,
        subscribe_url=_subscribe_url(),
    )


def _subscribe_url() -> str | None:
    """The public subscribe form, while some list takes sign-ups (else no link: the form
    would have nothing to offer)."""
    if not public_lists(db_session()):
        return None
    return url_for("reader.subscribe_page")


@bp.route("/feed.xml")
def feed() -> Any:
    """Atom 1.0 feed (RFC 4287) of the published issues, with absolute links."""
    session = db_session()
    rows = session.scalars(
        _published().order_by(Issue.published_at.desc(), Issue.id.desc()).limit(FEED_ENTRIES)
    ).all()
    layout = get_layout(session, settings())
    xml = atom_feed(
        _base(),
        layout.journal_name or layout.org_name or "Tidings",
        layout.org_name or "Tidings",
        rows,
    )
    return Response(xml, mimetype="application/atom+xml")


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _times(row: Issue) -> tuple[datetime, datetime]:
    """(published, updated) of an entry: an edit after publication updates the entry."""
    published = row.published_at or row.updated_at
    return published, max(published, row.updated_at)


def atom_feed(base: str, title: str, author: str, rows: Sequence[Issue]) -> bytes:
    """The Atom document: feed id/title/updated/author/links, one entry per issue."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    root = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(root, "id", f"{base}/archive/")
    sub(root, "title", title)
    times = [_times(r)[1] for r in rows]
    sub(root, "updated", _rfc3339(max(times)) if times else "1970-01-01T00:00:00Z")
    sub(sub(root, "author"), "name", author)
    sub(root, "link", rel="self", href=f"{base}/archive/feed.xml", type="application/atom+xml")
    sub(root, "link", rel="alternate", href=f"{base}/archive/", type="text/html")
    for row in rows:
        url = f"{base}/archive/{row.slug}"
        entry = sub(root, "entry")
        sub(entry, "id", url)
        sub(entry, "title", " ".join(p for p in (row.title, row.number) if p))
        published, updated = _times(row)
        sub(entry, "updated", _rfc3339(updated))
        sub(entry, "published", _rfc3339(published))
        sub(entry, "link", rel="alternate", href=url, type="text/html")
        titles = [a.title for _, a in store.load_doc(row).articles()]
        sub(entry, "summary", "；".join(titles))
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


@bp.route("/<slug>")
def issue(slug: str) -> Any:
    """One published issue as a responsive web page (table of contents, article anchors)."""
    if "\x00" in slug:
        abort(404)  # no slug has one, and PostgreSQL refuses it even in a query
    session = db_session()
    row = session.scalar(_published().where(Issue.slug == slug))
    preview = row is None and _preview_allowed(slug)
    if preview:
        row = session.scalar(
            select(Issue).options(defer(Issue.source_data)).where(Issue.slug == slug)
        )
    if row is None:
        abort(404)
    html = render_web(store.load_doc(row), get_layout(session, settings()))
    # render_web gives a standalone page; add the way back to the list and the feed.
    back = escape(f"{_base()}/archive/")
    subscribe = _subscribe_url()
    join = (
        f' · <a class="subscribe" href="{escape(subscribe)}" style="color:inherit">'
        f"{escape(_('Subscribe'))}</a>"
        if subscribe
        else ""
    )
    nav = (
        f'<nav style="padding:8px 24px;font-size:14px"><a href="{back}" '
        f'style="color:inherit">← {escape(_("All issues"))}</a>{join}</nav>'
    )
    feed_link = f'<link rel="alternate" type="application/atom+xml" href="{back}feed.xml">'
    html = html.replace(_HEAD_CLOSE, feed_link + _HEAD_CLOSE, 1).replace(
        _MAIN_OPEN, _MAIN_OPEN + nav, 1
    )
    response = Response(html, mimetype="text/html")
    if preview:
        # Reached through a test send's link before publication: not for search engines.
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _preview_allowed(slug: str) -> bool:
    """Whether the request carries the preview token of this issue (test sends link to
    the archive page before the issue is published; see ``publishing.preview_token``)."""
    token = request.args.get("preview", "")
    return bool(token) and publishing.read_preview_token(settings().secret_key, token) == slug
