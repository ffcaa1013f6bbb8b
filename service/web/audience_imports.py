"""The import pages of the ``audience`` blueprint (see ``service.web.routes``): upload a
CSV or XLSX file, say which column is which, follow the worker's progress, and download the
rows it refused. Thin views over ``service.subscribers.import_jobs``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.utils import secure_filename

from service.model import ImportJob
from service.subscribers import import_columns, import_jobs, import_terms
from service.subscribers import lists as list_domain
from service.subscribers.tabular import FileFormatError, TableInfo
from service.web.audience_requests import audience_page, client_ip
from service.web.context import db_session, settings
from service.web.messages import describe, flash_error
from service.web.roles import current_user_id, require_role
from service.web.routes import Routes

routes = Routes()

# Uploads above this get a clear message instead of a long wait (the app's hard limit,
# MAX_CONTENT_LENGTH, is a little higher so this message is the one people see).
MAX_IMPORT_BYTES = 60 * 1024 * 1024
IMPORT_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
PROGRESS_POLL = "every 1s"
MAPPING_CHOICES = ("email", "name", "organisation", "language", "attribute", "ignore")


@routes.route("/subscribers/import", methods=["GET", "POST"])
@require_role("editor")
def import_upload() -> Any:
    """Step 1: upload a file and choose the list and mode."""
    session = db_session()
    open_lists = list_domain.all_lists(session, include_archived=False)
    if request.method == "GET":
        # "Import subscribers" on a list's page comes with that list chosen.
        return _upload_page(open_lists, request.args.get("list_id", type=int), "add")
    upload = request.files.get("file")
    list_id = request.form.get("list_id", type=int)
    mode = request.form.get("mode", "add")
    problem = _upload_problem(upload, list_id, mode)
    if problem:
        flash(problem, "error")
        return _upload_page(open_lists, list_id, mode), 400
    assert upload is not None
    name = secure_filename(upload.filename or "") or "upload"
    original = (upload.filename or name)[-300:]
    assert list_id is not None  # _upload_problem refused a missing list
    try:
        job, info = import_jobs.store_upload(
            session,
            settings().data_dir,
            upload.save,
            list_id=list_id,
            filename=original,
            mode=mode,
            status="mapping",
            created_by=current_user_id(),
        )
    except FileFormatError as exc:
        session.rollback()
        flash(
            _("%(file)s cannot be imported: %(reason)s", file=original, reason=describe(exc)),
            "error",
        )
        return _upload_page(open_lists, list_id, mode), 400
    job.mapping = {"info": _info_dict(info), "columns": import_columns.guess_mapping(info.headers)}
    session.commit()
    return redirect(url_for("audience.import_mapping", job_id=job.id))


def _upload_page(open_lists: list[Any], list_id: int | None, mode: str) -> Any:
    """The upload form with the list and mode chosen so far (kept when a file is refused)."""
    return audience_page(
        "import_upload.html",
        lists=open_lists,
        jobs=_recent_jobs(),
        chosen_list=list_id,
        chosen_mode=mode,
    )


def _upload_problem(upload: Any, list_id: int | None, mode: str) -> str | None:
    if upload is None or not upload.filename:
        return _("Choose a file to import.")
    if not upload.filename.lower().endswith(IMPORT_SUFFIXES):
        return _("Only CSV and XLSX files can be imported.")
    if not list_id:
        return _("Choose the list to import into.")
    if mode not in import_terms.MODES:
        return _("Choose how to treat people already known.")
    size = request.content_length or 0
    if size > MAX_IMPORT_BYTES:
        return _(
            "The file is %(size)s MB; imports are limited to %(limit)s MB. Split it into parts.",
            size=f"{size / 1e6:.1f}",
            limit=MAX_IMPORT_BYTES // (1024 * 1024),
        )
    return None


def _info_dict(info: TableInfo) -> dict[str, Any]:
    return {
        "kind": info.kind,
        "encoding": info.encoding,
        "delimiter": info.delimiter,
        "headers": info.headers,
        "preview": info.preview,
        "has_header": info.has_header,
    }


def _recent_jobs() -> list[ImportJob]:
    from sqlalchemy import select

    return list(db_session().scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(10)))


def _job(job_id: int) -> ImportJob:
    job = db_session().get(ImportJob, job_id)
    if job is None:
        abort(404)
    return job


@routes.route("/imports/<int:job_id>/mapping", methods=["GET", "POST"])
@require_role("editor")
def import_mapping(job_id: int) -> Any:
    """Step 2: say which column is which (guessed from the headers), then start."""
    session = db_session()
    job = _job(job_id)
    if job.status != "mapping":
        return redirect(url_for("audience.import_job", job_id=job_id))
    info = (job.mapping or {}).get("info", {})
    headers: list[str] = info.get("headers", [])
    if request.method == "POST":
        chosen = {}
        for index, header in enumerate(headers):
            target = request.form.get(f"col{index}", "attribute")
            chosen[header] = target if target in MAPPING_CHOICES else "attribute"
        try:
            columns = import_columns.complete_mapping(headers, chosen)
        except import_terms.ImportSetupError as exc:
            flash_error(exc)
            return redirect(url_for("audience.import_mapping", job_id=job_id))
        job.mapping = {**job.mapping, "columns": columns}
        job.status = "queued"
        from service.accounts.audit import audit

        audit(
            session,
            current_user_id(),
            "subscribers.import",
            "list",
            job.list_id,
            client_ip(),
            job=job.id,
            file=job.filename,
            mode=job.mode,
        )
        session.commit()
        from worker.tasks_audience import import_subscribers

        import_subscribers.delay(job.id)
        return redirect(url_for("audience.import_job", job_id=job_id))
    target_list = session.get(list_domain.MailingList, job.list_id) if job.list_id else None
    return audience_page(
        "import_mapping.html",
        job=job,
        info=info,
        headers=headers,
        columns=import_jobs.job_mapping(job),
        choices=MAPPING_CHOICES,
        target_list=target_list,
    )


@routes.route("/imports/<int:job_id>")
@require_role("editor")
def import_job(job_id: int) -> Any:
    """Step 3: the progress bar (htmx polls the fragment) and, at the end, the report."""
    job = _job(job_id)
    return audience_page("import_job.html", job=job, extra=_job_extra(job), poll=PROGRESS_POLL)


@routes.route("/imports/<int:job_id>/progress")
@require_role("editor")
def import_progress(job_id: int) -> Any:
    """The progress fragment (replaces itself until the job ends)."""
    job = _job(job_id)
    return audience_page(
        "_import_progress.html", job=job, extra=_job_extra(job), poll=PROGRESS_POLL
    )


def _job_extra(job: ImportJob) -> dict[str, Any]:
    return dict((job.mapping or {}).get("report", {}))


def import_reason(entry: dict[str, Any]) -> str:
    """Why an import row (or the whole job) failed, in the staff member's language (also
    the ``import_reason`` template filter, which ``audience`` adds to the blueprint)."""
    return describe(import_terms.row_message(entry))


@routes.route("/imports/<int:job_id>/errors.csv")
@require_role("editor")
def import_errors(job_id: int) -> Any:
    """Every bad row of the import with its line number and reason (CSV with BOM)."""
    job = _job(job_id)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["line", "reason"])
    for error in job.errors or []:
        writer.writerow([error.get("line") or "", import_reason(error)])
    return Response(
        buffer.getvalue().encode("utf-8"),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'},
    )
