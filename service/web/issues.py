"""Admin pages for issues of the journal: upload, review and edit, preview, publish, layout,
delete.

Thin views over ``service.issues.store`` and ``service.issues.layout``; every change is a POST
with a CSRF token, and bad input re-renders the page with the message and what was typed.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any, cast

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import defer
from werkzeug.datastructures import FileStorage

from service.accounts.audit import audit
from service.campaigns.archive_links import live_links
from service.errors import Message
from service.issues import edits, images, import_jobs, previews, publishing, store
from service.issues.image_files import ImageError
from service.issues.images import MAX_IMAGE_BYTES
from service.issues.importer import DocumentImportError
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
from service.model import Issue, IssueImport
from service.web.context import db_session, mail_settings, settings
from service.web.issue_imports import enqueue_import, queue_heavy_import
from service.web.messages import describe, flash_error
from service.web.roles import current_user_id, has_role, require_role, staff_blueprint

bp = staff_blueprint("issues", __name__)
PAGE_SIZE = 50
UPLOAD_FIELD = "document"
ACCEPTED_SUFFIXES = ".md,.markdown,.txt,.docx"
# The preview is email HTML from staff-edited content: show it without scripts, plugins,
# forms or network access other than images (logos), and only framed by the admin itself.
PREVIEW_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "script-src 'none'; form-action 'none'; frame-ancestors 'self'"
)
PHONE_WIDTH_PX = 375
DESKTOP_WIDTH_PX = 640
COVER_FIELD = "cover_lines"
# The undo key: the review page's query argument and the undo form's field.
UNDO_FIELD = "undo"
IMAGE_FIELD = "image"
ALT_FIELD = "alt"
IMAGE_ACCEPT = "image/png,image/jpeg,image/gif,image/webp"
# An upload refused as a duplicate waits in the data folder for "import anyway": a browser
# cannot send the chosen file a second time by itself. Abandoned ones are swept after this.
PENDING_DIR = "issue-uploads"
PENDING_FIELD = "pending"
PENDING_MAX_AGE_S = 3600
PENDING_TOKEN_BYTES = 24
# The page of a heavy upload reloads itself this often while the worker imports it.
IMPORT_REFRESH_SECONDS = 2
_PENDING_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}\Z")


def _issue_or_404(issue_id: int) -> Issue:
    return db_session().get(Issue, issue_id) or abort(404)


def _mode() -> Mode:
    mode = request.args.get("mode", "auto")
    return cast(Mode, mode if mode in MODES else "auto")


# ---- list and upload ----------------------------------------------------------------------------


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


@bp.route("/issues/upload", methods=["GET", "POST"])
@require_role("editor")
def upload() -> Any:
    """Upload a .md or .docx document; it becomes a new, unpublished issue.

    A document imported before is not imported again silently: the page names the existing
    issue and offers "import anyway", which posts the ``pending`` token of the kept upload.
    """
    if request.method == "GET":
        return render_template("issues/upload.html", error=None, accept=ACCEPTED_SUFFIXES)
    token = request.form.get(PENDING_FIELD, "")
    if token:
        pending = _take_upload(token)
        if pending is None:
            return _upload_error(
                _("The upload waiting to be imported again has expired; choose the file again.")
            )
        filename, data = pending
    else:
        file: FileStorage | None = request.files.get(UPLOAD_FIELD)
        if file is None or not file.filename:
            return _upload_error(_("Choose a .md or .docx file to upload."))
        filename, data = file.filename, file.read()
    session = db_session()
    if import_jobs.is_heavy(filename, data):
        return _queue_heavy(filename, data, allow_duplicate=bool(token))
    try:
        issue = store.create_issue_from_document(
            session, filename, data, current_user_id(), allow_duplicate=bool(token)
        )
    except store.DuplicateIssue as exc:
        session.rollback()
        existing = session.get(Issue, exc.duplicate_of, options=[defer(Issue.source_data)])
        page = render_template(
            "issues/upload.html",
            error=None,
            accept=ACCEPTED_SUFFIXES,
            duplicate=existing,
            duplicate_message=describe(exc),
            filename=filename,
            pending=_stash_upload(filename, data),
        )
        return page, 409
    except DocumentImportError as exc:
        session.rollback()
        reason = describe(exc)
        return _upload_error(
            _("%(name)s could not be imported: %(reason)s", name=filename, reason=reason)
        )
    session.commit()
    flash(_("Imported. Check the articles below, then preview and publish."), "info")
    return redirect(url_for("issues.issue", issue_id=issue.id))


def _upload_error(message: str) -> Any:
    return render_template("issues/upload.html", error=message, accept=ACCEPTED_SUFFIXES), 400


# ---- heavy uploads: imported by the worker, this page polls ------------------------------------


def _queue_heavy(filename: str, data: bytes, *, allow_duplicate: bool) -> Any:
    """Keep a heavy upload for the worker and send the editor to its page."""
    job = queue_heavy_import(filename, data, current_user_id(), allow_duplicate=allow_duplicate)
    return redirect(url_for("issues.import_status", job_id=job.id))


@bp.route("/issues/imports/<int:job_id>")
@require_role("editor")
def import_status(job_id: int) -> Any:
    """A heavy upload's page: "importing…" (reloading itself) until the worker is done, then
    the new issue, the reason it failed, or the duplicate with "import anyway"."""
    job = db_session().get(IssueImport, job_id) or abort(404)
    if job.status == "done" and job.issue_id is not None:
        flash(_("Imported. Check the articles below, then preview and publish."), "info")
        return redirect(url_for("issues.issue", issue_id=job.issue_id))
    reason = describe(Message.load(job.error)) if job.error else ""
    if job.status == "duplicate":
        existing = db_session().get(Issue, job.duplicate_of, options=[defer(Issue.source_data)])
        page = render_template(
            "issues/upload.html",
            error=None,
            accept=ACCEPTED_SUFFIXES,
            duplicate=existing,
            duplicate_message=reason,
            filename=job.filename,
            again_url=url_for("issues.import_again", job_id=job.id),
        )
        return page, 409
    if job.status in ("failed", "done"):  # done without an issue: it was deleted since
        return _upload_error(
            _("%(name)s could not be imported: %(reason)s", name=job.filename, reason=reason)
        )
    return render_template("issues/import_status.html", job=job, refresh=IMPORT_REFRESH_SECONDS)


@bp.route("/issues/imports/<int:job_id>/again", methods=["POST"])
@require_role("editor")
def import_again(job_id: int) -> Any:
    """ "Import anyway" for a heavy upload refused as a duplicate."""
    session = db_session()
    job = session.get(IssueImport, job_id) or abort(404)
    if import_jobs.queue_again(job):
        session.commit()
        enqueue_import(job)
    return redirect(url_for("issues.import_status", job_id=job.id))


def _pending_dir() -> Path:
    return settings().data_dir / PENDING_DIR


def _stash_upload(filename: str, data: bytes) -> str:
    """Keep a refused duplicate upload for "import anyway"; return its token."""
    folder = _pending_dir()
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - PENDING_MAX_AGE_S
    for old in folder.iterdir():
        with contextlib.suppress(OSError):  # another request swept it first
            if old.stat().st_mtime < cutoff:
                old.unlink()
    token = secrets.token_urlsafe(PENDING_TOKEN_BYTES)
    meta = {"filename": filename, "user_id": current_user_id()}
    (folder / f"{token}.upload").write_bytes(data)
    (folder / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
    return token


def _take_upload(token: str) -> tuple[str, bytes] | None:
    """The kept upload ``(filename, bytes)`` of this staff member, removed from the folder;
    None when the token is malformed, unknown, expired or someone else's."""
    if not _PENDING_TOKEN_RE.match(token):
        return None
    meta_path = _pending_dir() / f"{token}.json"
    data_path = _pending_dir() / f"{token}.upload"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        data = data_path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("user_id") != current_user_id():
        return None
    meta_path.unlink(missing_ok=True)
    data_path.unlink(missing_ok=True)
    return str(meta.get("filename") or ""), data


# ---- review and edit ----------------------------------------------------------------------------


@bp.route("/issues/<int:issue_id>")
@require_role("editor")
def issue(issue_id: int) -> Any:
    """The structured issue for review: sections → articles, edits, completeness."""
    return _review(_issue_or_404(issue_id))


def _review(row: Issue, drafts: dict[str, dict[str, str]] | None = None, status: int = 200) -> Any:
    doc = store.load_doc(row)
    undo_key = request.args.get(UNDO_FIELD, "")
    undo = edits.deleted_article(row, undo_key) if undo_key else None
    try:
        missing: list[str] | None = store.completeness(row)
    except DocumentImportError:
        missing = None  # the attached original cannot be read any more: say so on the page
    page = render_template(
        "issues/review.html",
        issue=row,
        doc=doc,
        cover_field=COVER_FIELD,
        missing=missing,
        drafts=drafts or {},
        source_bytes=len(row.source_data or b""),
        archive_url=publishing.archive_url(mail_settings(), row.slug),
        undo=undo,
        undo_key=undo_key,
        undo_field=UNDO_FIELD,
        max_image_kb=MAX_IMAGE_BYTES // 1024,
        image_accept=IMAGE_ACCEPT,
    )
    return page, status


def _back(row: Issue, anchor: str | None = None) -> Any:
    return redirect(
        url_for("issues.issue", issue_id=row.id, _anchor=f"art-{anchor}" if anchor else None)
    )


def _form_fields() -> dict[str, str]:
    return {k: request.form.get(k, "") for k in ("title", "body", "source")}


@bp.route("/issues/<int:issue_id>/articles/<anchor>", methods=["POST"])
@require_role("editor")
def article_update(issue_id: int, anchor: str) -> Any:
    """Save an article's title, Markdown body and source."""
    row = _issue_or_404(issue_id)
    fields = _form_fields()
    with_image = request.form.get("action") == "image"
    alt = request.form.get(ALT_FIELD, "")
    try:
        edits.update_article(
            db_session(),
            row,
            anchor,
            title=fields["title"],
            body=fields["body"],
            source=fields["source"],
            user_id=current_user_id(),
        )
        if with_image:
            _insert_image(row, anchor, alt)
    except (store.IssueEditError, ImageError) as exc:
        db_session().rollback()
        draft = {**fields, ALT_FIELD: alt, "error": describe(exc)}
        return _review(row, {anchor: draft}, 400)
    db_session().commit()
    flash(
        _("Image added at the end of the article.") if with_image else _("Article saved."), "info"
    )
    return _back(row, anchor)


def _insert_image(row: Issue, anchor: str, alt: str) -> None:
    """Store the uploaded image of the article form and append it to the article."""
    upload: FileStorage | None = request.files.get(IMAGE_FIELD)
    if upload is None or not upload.filename:
        raise ImageError("image.none_chosen", "choose an image file to upload")
    session = db_session()
    # One byte over the limit is enough to refuse it; never read a huge upload whole.
    data = upload.read(MAX_IMAGE_BYTES + 1)
    image = images.add_image(session, row, upload.filename, data, alt, current_user_id())
    images.insert_into_article(session, row, anchor, image, settings().base_url, current_user_id())


@bp.route("/issues/<int:issue_id>/articles/<anchor>/move", methods=["POST"])
@require_role("editor")
def article_move(issue_id: int, anchor: str) -> Any:
    """Move an article up or down (across sections at the edges)."""
    row = _issue_or_404(issue_id)
    direction = request.form.get("direction", "")
    if direction not in ("up", "down"):
        abort(400)
    try:
        edits.move_article(
            db_session(), row, anchor, cast(edits.Direction, direction), current_user_id()
        )
    except store.IssueEditError as exc:
        db_session().rollback()
        flash_error(exc)
        return _back(row)
    db_session().commit()
    return _back(row, anchor)


@bp.route("/issues/<int:issue_id>/articles/<anchor>/delete", methods=["GET", "POST"])
@require_role("editor")
def article_delete(issue_id: int, anchor: str) -> Any:
    """Confirm (GET), then delete (POST) an article; its text is kept in the list of
    removed text, and the review page offers to undo the deletion."""
    row = _issue_or_404(issue_id)
    if request.method == "GET":
        doc = store.load_doc(row)
        try:
            si, ai = store.find_article(doc, anchor)
        except store.ArticleNotFound as exc:
            flash_error(exc)
            return _back(row)
        return render_template(
            "issues/article_delete.html",
            issue=row,
            section=doc.sections[si],
            article=doc.sections[si].articles[ai],
        )
    try:
        _gone, key = edits.delete_article(db_session(), row, anchor, current_user_id())
    except store.IssueEditError as exc:
        db_session().rollback()
        flash_error(exc)
        return _back(row)
    db_session().commit()
    # No flash: the review page shows "deleted" with its Undo button while undo is possible.
    return redirect(url_for("issues.issue", issue_id=row.id, undo=key))


@bp.route("/issues/<int:issue_id>/articles/undo", methods=["POST"])
@require_role("editor")
def article_undo(issue_id: int) -> Any:
    """Put the article deleted last back in its place (once)."""
    row = _issue_or_404(issue_id)
    try:
        back = edits.undo_delete(
            db_session(), row, request.form.get(UNDO_FIELD, ""), current_user_id()
        )
    except store.IssueEditError as exc:
        db_session().rollback()
        flash_error(exc)
        return _back(row)
    db_session().commit()
    flash(_("“%(title)s” is back in its place.", title=back.title), "info")
    return _back(row, back.anchor)


@bp.route("/issues/<int:issue_id>/articles/<anchor>/section", methods=["POST"])
@require_role("editor")
def article_to_section(issue_id: int, anchor: str) -> Any:
    """Move an article to the end of another section."""
    row = _issue_or_404(issue_id)
    section = request.form.get("section", type=int)
    try:
        edits.move_article_to_section(
            db_session(), row, anchor, -1 if section is None else section, current_user_id()
        )
    except store.IssueEditError as exc:
        db_session().rollback()
        flash_error(exc)
        return _back(row)
    db_session().commit()
    flash(_("Article moved."), "info")
    return _back(row, anchor)


# ---- sections and the issue's details ----------------------------------------------------------


def _back_to_section(row: Issue, index: int) -> Any:
    return redirect(url_for("issues.issue", issue_id=row.id, _anchor=f"sec-{index}"))


@bp.route("/issues/<int:issue_id>/sections/<int:index>", methods=["POST"])
@require_role("editor")
def section_rename(issue_id: int, index: int) -> Any:
    """Rename a section (the page's name for it is checked, in case it moved meanwhile)."""
    row = _issue_or_404(issue_id)
    title = request.form.get("title", "")
    try:
        edits.rename_section(
            db_session(),
            row,
            index,
            title,
            expected_title=request.form.get("was"),
            user_id=current_user_id(),
        )
    except store.IssueEditError as exc:
        db_session().rollback()
        return _review(row, {f"section-{index}": {"title": title, "error": describe(exc)}}, 400)
    db_session().commit()
    flash(_("Section renamed."), "info")
    return _back_to_section(row, index)


@bp.route("/issues/<int:issue_id>/sections/<int:index>/move", methods=["POST"])
@require_role("editor")
def section_move(issue_id: int, index: int) -> Any:
    """Move a section, with its articles, one place up or down."""
    row = _issue_or_404(issue_id)
    direction = request.form.get("direction", "")
    if direction not in ("up", "down"):
        abort(400)
    try:
        edits.move_section(
            db_session(),
            row,
            index,
            cast(edits.Direction, direction),
            expected_title=request.form.get("was"),
            user_id=current_user_id(),
        )
    except store.IssueEditError as exc:
        db_session().rollback()
        flash_error(exc)
        return _back(row)
    db_session().commit()
    return _back_to_section(row, index - 1 if direction == "up" else index + 1)


@bp.route("/issues/<int:issue_id>/details", methods=["POST"])
@require_role("editor")
def details_update(issue_id: int) -> Any:
    """Save the issue's title, number (期号) and publication date."""
    row = _issue_or_404(issue_id)
    fields = {k: request.form.get(k, "") for k in ("title", "number", "date")}
    try:
        edits.update_details(
            db_session(),
            row,
            title=fields["title"],
            number=fields["number"],
            issue_date=fields["date"],
            user_id=current_user_id(),
        )
    except store.IssueEditError as exc:
        db_session().rollback()
        return _review(row, {"details": {**fields, "error": describe(exc)}}, 400)
    db_session().commit()
    flash(_("Title, number and date saved."), "info")
    return redirect(url_for("issues.issue", issue_id=row.id, _anchor="details"))


@bp.route("/issues/<int:issue_id>/articles", methods=["POST"])
@require_role("editor")
def article_add(issue_id: int) -> Any:
    """Add a new article at the end of a section."""
    row = _issue_or_404(issue_id)
    fields = _form_fields()
    section = request.form.get("section", type=int)
    try:
        added = edits.add_article(
            db_session(),
            row,
            section if section is not None else -1,
            title=fields["title"],
            body=fields["body"],
            source=fields["source"],
            user_id=current_user_id(),
        )
    except store.IssueEditError as exc:
        db_session().rollback()
        return _review(row, {"new": {**fields, "error": describe(exc)}}, 400)
    db_session().commit()
    flash(_("Article added."), "info")
    return _back(row, added.anchor)


@bp.route("/issues/<int:issue_id>/cover", methods=["POST"])
@require_role("editor")
def cover_update(issue_id: int) -> Any:
    """Save the lines of the printed cover (issue metadata, never mailed)."""
    row = _issue_or_404(issue_id)
    text = request.form.get(COVER_FIELD, "")
    try:
        edits.update_cover_lines(db_session(), row, text, current_user_id())
    except store.IssueEditError as exc:
        db_session().rollback()
        return _review(row, {"cover": {COVER_FIELD: text, "error": describe(exc)}}, 400)
    db_session().commit()
    flash(_("Cover saved. Subscribers never see these lines."), "info")
    return redirect(url_for("issues.issue", issue_id=row.id, _anchor="cover"))


@bp.route("/issues/<int:issue_id>/delete", methods=["GET", "POST"])
@require_role("editor")
def delete(issue_id: int) -> Any:
    """Confirm (GET), then delete (POST) an issue that no campaign was made from."""
    row = _issue_or_404(issue_id)
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
    row = _issue_or_404(issue_id)
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
    row = _issue_or_404(issue_id)
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
        return _back(row)
    session.commit()
    target = request.form.get("next")
    if target == "preview":
        return redirect(url_for("issues.preview", issue_id=row.id))
    return _back(row)


# ---- preview ------------------------------------------------------------------------------------


@bp.route("/issues/<int:issue_id>/preview")
@require_role("editor")
def preview(issue_id: int) -> Any:
    """Desktop and phone previews, the text part, sample headers and the size report."""
    row = _issue_or_404(issue_id)
    if not any(True for _ in store.load_doc(row).articles()):
        flash(_("This issue has no articles yet: add one before previewing."), "warning")
        return _back(row)
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
    row = _issue_or_404(issue_id)
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
