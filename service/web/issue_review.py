"""The review page of an issue and its edits: articles (edit, image, move, delete and undo,
to another section, add), sections (rename, move), the issue's details and cover lines.

Routes of the ``issues`` blueprint (see ``service.web.routes``); thin views over
``service.issues.edits``. Every change is a POST with a CSRF token, and bad input
re-renders the page with the message and what was typed.
"""

from __future__ import annotations

from typing import Any, cast

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from service.issues import edits, images, publishing, store
from service.issues.image_files import ImageError
from service.issues.images import MAX_IMAGE_BYTES
from service.issues.importer import DocumentImportError
from service.model import Issue
from service.web.context import db_session, mail_settings, settings
from service.web.messages import describe, flash_error
from service.web.roles import current_user_id, require_role
from service.web.routes import Routes

routes = Routes()

COVER_FIELD = "cover_lines"
# The undo key: the review page's query argument and the undo form's field.
UNDO_FIELD = "undo"
IMAGE_FIELD = "image"
ALT_FIELD = "alt"
IMAGE_ACCEPT = "image/png,image/jpeg,image/gif,image/webp"


def issue_or_404(issue_id: int) -> Issue:
    """The issue with this id, or a 404 page."""
    return db_session().get(Issue, issue_id) or abort(404)


@routes.route("/issues/<int:issue_id>")
@require_role("editor")
def issue(issue_id: int) -> Any:
    """The structured issue for review: sections → articles, edits, completeness."""
    return _review(issue_or_404(issue_id))


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


def back_to_issue(row: Issue, anchor: str | None = None) -> Any:
    """Back to the issue's review page, at the article ``anchor`` when given."""
    return redirect(
        url_for("issues.issue", issue_id=row.id, _anchor=f"art-{anchor}" if anchor else None)
    )


def _form_fields() -> dict[str, str]:
    return {k: request.form.get(k, "") for k in ("title", "body", "source")}


@routes.route("/issues/<int:issue_id>/articles/<anchor>", methods=["POST"])
@require_role("editor")
def article_update(issue_id: int, anchor: str) -> Any:
    """Save an article's title, Markdown body and source."""
    row = issue_or_404(issue_id)
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
    return back_to_issue(row, anchor)


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


@routes.route("/issues/<int:issue_id>/articles/<anchor>/move", methods=["POST"])
@require_role("editor")
def article_move(issue_id: int, anchor: str) -> Any:
    """Move an article up or down (across sections at the edges)."""
    row = issue_or_404(issue_id)
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
        return back_to_issue(row)
    db_session().commit()
    return back_to_issue(row, anchor)


@routes.route("/issues/<int:issue_id>/articles/<anchor>/delete", methods=["GET", "POST"])
@require_role("editor")
def article_delete(issue_id: int, anchor: str) -> Any:
    """Confirm (GET), then delete (POST) an article; its text is kept in the list of
    removed text, and the review page offers to undo the deletion."""
    row = issue_or_404(issue_id)
    if request.method == "GET":
        doc = store.load_doc(row)
        try:
            si, ai = store.find_article(doc, anchor)
        except store.ArticleNotFound as exc:
            flash_error(exc)
            return back_to_issue(row)
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
        return back_to_issue(row)
    db_session().commit()
    # No flash: the review page shows "deleted" with its Undo button while undo is possible.
    return redirect(url_for("issues.issue", issue_id=row.id, undo=key))


@routes.route("/issues/<int:issue_id>/articles/undo", methods=["POST"])
@require_role("editor")
def article_undo(issue_id: int) -> Any:
    """Put the article deleted last back in its place (once)."""
    row = issue_or_404(issue_id)
    try:
        back = edits.undo_delete(
            db_session(), row, request.form.get(UNDO_FIELD, ""), current_user_id()
        )
    except store.IssueEditError as exc:
        db_session().rollback()
        flash_error(exc)
        return back_to_issue(row)
    db_session().commit()
    flash(_("“%(title)s” is back in its place.", title=back.title), "info")
    return back_to_issue(row, back.anchor)


@routes.route("/issues/<int:issue_id>/articles/<anchor>/section", methods=["POST"])
@require_role("editor")
def article_to_section(issue_id: int, anchor: str) -> Any:
    """Move an article to the end of another section."""
    row = issue_or_404(issue_id)
    section = request.form.get("section", type=int)
    try:
        edits.move_article_to_section(
            db_session(), row, anchor, -1 if section is None else section, current_user_id()
        )
    except store.IssueEditError as exc:
        db_session().rollback()
        flash_error(exc)
        return back_to_issue(row)
    db_session().commit()
    flash(_("Article moved."), "info")
    return back_to_issue(row, anchor)


def _back_to_section(row: Issue, index: int) -> Any:
    return redirect(url_for("issues.issue", issue_id=row.id, _anchor=f"sec-{index}"))


@routes.route("/issues/<int:issue_id>/sections/<int:index>", methods=["POST"])
@require_role("editor")
def section_rename(issue_id: int, index: int) -> Any:
    """Rename a section (the page's name for it is checked, in case it moved meanwhile)."""
    row = issue_or_404(issue_id)
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


@routes.route("/issues/<int:issue_id>/sections/<int:index>/move", methods=["POST"])
@require_role("editor")
def section_move(issue_id: int, index: int) -> Any:
    """Move a section, with its articles, one place up or down."""
    row = issue_or_404(issue_id)
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
        return back_to_issue(row)
    db_session().commit()
    return _back_to_section(row, index - 1 if direction == "up" else index + 1)


@routes.route("/issues/<int:issue_id>/details", methods=["POST"])
@require_role("editor")
def details_update(issue_id: int) -> Any:
    """Save the issue's title, number (期号) and publication date."""
    row = issue_or_404(issue_id)
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


@routes.route("/issues/<int:issue_id>/articles", methods=["POST"])
@require_role("editor")
def article_add(issue_id: int) -> Any:
    """Add a new article at the end of a section."""
    row = issue_or_404(issue_id)
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
    return back_to_issue(row, added.anchor)


@routes.route("/issues/<int:issue_id>/cover", methods=["POST"])
@require_role("editor")
def cover_update(issue_id: int) -> Any:
    """Save the lines of the printed cover (issue metadata, never mailed)."""
    row = issue_or_404(issue_id)
    text = request.form.get(COVER_FIELD, "")
    try:
        edits.update_cover_lines(db_session(), row, text, current_user_id())
    except store.IssueEditError as exc:
        db_session().rollback()
        return _review(row, {"cover": {COVER_FIELD: text, "error": describe(exc)}}, 400)
    db_session().commit()
    flash(_("Cover saved. Subscribers never see these lines."), "info")
    return redirect(url_for("issues.issue", issue_id=row.id, _anchor="cover"))
