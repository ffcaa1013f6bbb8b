"""Admin pages for issues of the journal: the list, delete, the original document, publish,
preview, layout. The ``issues`` blueprint is made here; its upload pages are in
``issue_uploads`` and the review page with its edits in ``issue_review``.

Thin views over ``service.issues`` (``store``, ``publishing``, ``previews``, ``layout``);
every change is a POST with a CSRF token, and bad input re-renders the page with the message
and what was typed.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import defer

from service.accounts.audit import audit
from service.campaigns.archive_links import live_links
from service.issues import previews, publishing, store
from service.issues.layout import (
    FIELD_NAMES,
    SITE_FIELDS,
    LayoutError,
    get_layout,
    save_layout,
    stored_layout_values,
)
from service.issues.logo import stored_logo
from service.issues.render import MODES, Mode
from service.mail.site_settings import stored_site_settings
from service.model import Issue
from service.web import issue_review, issue_uploads
from service.web.context import db_session, mail_settings, settings
from service.web.issue_review import back_to_issue, issue_or_404
from service.web.messages import describe, flash_error
from service.web.roles import current_user_id, has_role, require_role, staff_blueprint

bp = staff_blueprint("issues", __name__)
issue_uploads.routes.register(bp)
issue_review.routes.register(bp)
PAGE_SIZE = 50
# The preview is email HTML from staff-edited content: show it without scripts, plugins,
# forms or network access other than images (logos), and only framed by the admin itself.
PREVIEW_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "script-src 'none'; form-action 'none'; frame-ancestors 'self'"
)
PHONE_WIDTH_PX = 375
DESKTOP_WIDTH_PX = 640


def _mode() -> Mode:
    mode = request.args.get("mode", "auto")
    return cast(Mode, mode if mode in MODES else "auto")


# ---- the list -----------------------------------------------------------------------------------


@bp.route("/issues")
@require_role("editor")
def index() -> Any:
    """Every issue, newest first, a page at a time, with its state and size."""
    session = db_session()
    page = max(request.args.get("page", type=int) or 1, 1)
    total = session.scalar(select(func.count(Issue.id))) or 0
    rows = session.scalars(
        select(Issue)
        .options(defer(Issue.source_data))
        .order_by(Issue.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    sizes = store.size_of_source(session, [row.id for row in rows])
    issues = [
        {"row": row, "articles": store.article_count(row), "bytes": sizes.get(row.id, 0)}
        for row in rows
    ]
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template("issues/index.html", issues=issues, total=total, page=page, pages=pages)


# ---- delete, the original document, publishing ---------------------------------------------------


@bp.route("/issues/<int:issue_id>/delete", methods=["GET", "POST"])
@require_role("editor")
def delete(issue_id: int) -> Any:
    """Confirm (GET), then delete (POST) an issue that no campaign was made from."""
    row = issue_or_404(issue_id)
    session = db_session()
    if request.method == "GET":
        return render_template(
            "issues/delete.html",
            issue=row,
            campaigns=store.campaigns_using(session, row.id),
            articles=store.article_count(row),
        )
    name = " ".join(part for part in (row.title, row.number) if part)
    try:
        store.delete_issue(session, row, current_user_id(), request.remote_addr)
    except store.IssueInUse as exc:
        session.rollback()
        flash_error(exc)
        return redirect(url_for("issues.delete", issue_id=issue_id))
    session.commit()
    flash(_("Deleted issue %(id)s (%(name)s).", id=issue_id, name=name), "info")
    return redirect(url_for("issues.index"))


@bp.route("/issues/<int:issue_id>/source")
@require_role("editor")
def source(issue_id: int) -> Any:
    """The original document, as uploaded."""
    row = issue_or_404(issue_id)
    if not row.source_data:
        abort(404)
    return Response(
        row.source_data,
        mimetype="application/octet-stream",
        headers={"Content-Disposition": _attachment(row.source_filename or "issue")},
    )


def _attachment(filename: str) -> str:
    from urllib.parse import quote

    # RFC 6266: an ASCII fallback plus the UTF-8 name (Chinese file names are common).
    fallback = filename.encode("ascii", "ignore").decode().replace('"', "") or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


@bp.route("/issues/<int:issue_id>/publish", methods=["POST"])
@require_role("editor")
def publish_switch(issue_id: int) -> Any:
    """Publish the issue in the web archive, or take it out again."""
    row = issue_or_404(issue_id)
    session = db_session()
    wanted = request.form.get("published", "")
    if wanted != "1" and request.form.get("confirmed") != "1":
        links = live_links(session, row.id)
        if links.campaigns:
            # Sent mail links to this page: say what unpublishing breaks, and ask.
            return render_template(
                "issues/unpublish_confirm.html",
                issue=row,
                links=links,
                wanted=wanted,
                next_page=request.form.get("next", ""),
            )
    try:
        if wanted == "1":
            publishing.publish(session, row, current_user_id())
            flash(_("Published in the web archive."), "info")
        elif wanted == "private":
            publishing.unpublish(session, row, current_user_id(), keep_private=True)
            flash(
                _(
                    "Kept private: not in the web archive, and its campaigns go out in full "
                    "without links to it."
                ),
                "info",
            )
        else:
            publishing.unpublish(session, row, current_user_id())
            flash(_("Taken out of the web archive."), "info")
    except store.IssueEditError as exc:
        session.rollback()
        flash_error(exc)
        return back_to_issue(row)
    session.commit()
    target = request.form.get("next")
    if target == "preview":
        return redirect(url_for("issues.preview", issue_id=row.id))
    return back_to_issue(row)


# ---- preview ------------------------------------------------------------------------------------


@bp.route("/issues/<int:issue_id>/preview")
@require_role("editor")
def preview(issue_id: int) -> Any:
    """Desktop and phone previews, the text part, sample headers and the size report."""
    row = issue_or_404(issue_id)
    if not any(True for _ in store.load_doc(row).articles()):
        flash(_("This issue has no articles yet: add one before previewing."), "warning")
        return back_to_issue(row)
    mode = _mode()
    # The sample headers and links as mail has them: with the sender stored in the admin.
    config = mail_settings()
    result = previews.preview(row, get_layout(db_session(), config), config, mode)
    return render_template(
        "issues/preview.html",
        issue=row,
        p=result,
        mode=mode,
        modes=MODES,
        phone_width=PHONE_WIDTH_PX,
        desktop_width=DESKTOP_WIDTH_PX,
    )


@bp.route("/issues/<int:issue_id>/preview.html")
@require_role("editor")
def preview_html(issue_id: int) -> Any:
    """The filled HTML part alone, for the preview iframes (scripts blocked by CSP)."""
    row = issue_or_404(issue_id)
    if not any(True for _ in store.load_doc(row).articles()):
        abort(404)
    config = mail_settings()
    result = previews.preview(row, get_layout(db_session(), config), config, _mode())
    resp = Response(result.html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = PREVIEW_CSP
    resp.headers["Cache-Control"] = "no-store"
    return resp


# ---- layout -------------------------------------------------------------------------------------


@bp.route("/issues/layout", methods=["GET", "POST"])
@require_role("editor")
def layout() -> Any:
    """The journal's email layout: colours, logo, footer (editors may change it)."""
    session = db_session()
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not has_role("editor"):
            abort(403)
        # A field held by the site settings or the uploaded logo is not in the form: it
        # keeps what this page saved before.
        stored = stored_layout_values(session)
        values = {name: request.form.get(name, stored.get(name) or "") for name in FIELD_NAMES}
        try:
            save_layout(session, values)
        except LayoutError as exc:
            session.rollback()
            errors = {name: describe(error) for name, error in exc.errors.items()}
            return render_template(
                "issues/layout.html", values=values, errors=errors, from_site=_from_site(session)
            ), 400
        audit(session, current_user_id(), "issue.layout.save", "setting", "layout")
        session.commit()
        flash(_("Layout saved. Every new preview and campaign uses it."), "info")
        return redirect(url_for("issues.layout"))
    current = get_layout(session, settings())
    values = {name: getattr(current, name) or "" for name in FIELD_NAMES}
    return render_template(
        "issues/layout.html", values=values, errors=errors, from_site=_from_site(session)
    )


def _from_site(session: Any) -> set[str]:
    """The layout fields the sender and site settings or the uploaded logo hold (shown,
    not edited, on the layout page)."""
    site = stored_site_settings(session)
    held = {name for name, value in SITE_FIELDS.items() if getattr(site, value)}
    return held | ({"logo_url"} if stored_logo(session) is not None else set())
