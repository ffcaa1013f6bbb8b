"""Admin pages for bringing a document in as an issue: the upload form, the duplicate check
with its "import anyway", and the page of a heavy upload the worker imports.

Routes of the ``issues`` blueprint (see ``service.web.routes``); thin views over
``service.issues.store`` and ``service.issues.import_jobs``.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import defer
from werkzeug.datastructures import FileStorage

from service.errors import Message
from service.issues import import_jobs, store
from service.issues.importer import DocumentImportError
from service.model import Issue, IssueImport
from service.web.context import db_session, settings
from service.web.issue_imports import enqueue_import, queue_heavy_import
from service.web.messages import describe
from service.web.roles import current_user_id, require_role
from service.web.routes import Routes

routes = Routes()

UPLOAD_FIELD = "document"
ACCEPTED_SUFFIXES = ".md,.markdown,.txt,.docx"
# An upload refused as a duplicate waits in the data folder for "import anyway": a browser
# cannot send the chosen file a second time by itself. Abandoned ones are swept after this.
PENDING_DIR = "issue-uploads"
PENDING_FIELD = "pending"
PENDING_MAX_AGE_S = 3600
PENDING_TOKEN_BYTES = 24
# The page of a heavy upload reloads itself this often while the worker imports it.
IMPORT_REFRESH_SECONDS = 2
_PENDING_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}\Z")


@routes.route("/issues/upload", methods=["GET", "POST"])
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


def _queue_heavy(filename: str, data: bytes, *, allow_duplicate: bool) -> Any:
    """Keep a heavy upload for the worker and send the editor to its page."""
    job = queue_heavy_import(filename, data, current_user_id(), allow_duplicate=allow_duplicate)
    return redirect(url_for("issues.import_status", job_id=job.id))


@routes.route("/issues/imports/<int:job_id>")
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


@routes.route("/issues/imports/<int:job_id>/again", methods=["POST"])
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
