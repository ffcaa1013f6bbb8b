"""``/subscribers/imports``: bulk import by upload (CSV or XLSX), reusing ``ImportJob``.

Small files are imported during the request (the answer is the finished job); larger
ones go to the worker's ``import_subscribers`` task and the client polls the job.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from flask import Blueprint, request
from pydantic import BaseModel, Field
from werkzeug.datastructures import FileStorage

from service.errors import Message
from service.model import ImportJob
from service.subscribers import import_columns, import_jobs, import_terms, importer
from service.subscribers.tabular import FileFormatError
from service.web.api.auth import api_user_id
from service.web.api.common import Id, Strict, fetch, record
from service.web.api.errors import ApiError
from service.web.api.registry import operation
from service.web.context import db_session, settings

log = logging.getLogger(__name__)

TAG = "subscribers"
IMPORT_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
# Up to this much to parse the import runs in the request (a few thousand rows, well under
# a second); above it the worker runs it and the client polls the job. What an XLSX
# unpacks to counts, not its size: a 500 KB workbook can hold a 60 MB sheet.
SYNC_IMPORT_MAX_BYTES = 512 * 1024
MAX_IMPORT_BYTES = 60 * 1024 * 1024


class ImportMode(StrEnum):
    """``add``: only new people; ``upsert``: also update the profiles of known ones."""

    ADD = "add"
    UPSERT = "upsert"


class ImportForm(Strict):
    """The form fields sent with the ``file`` part."""

    list_id: Id
    mode: ImportMode = ImportMode.ADD
    mapping: Annotated[
        str,
        Field(
            max_length=10_000,
            description='optional JSON object {"column": "email|name|organisation|language|'
            'attribute|ignore"}; unnamed columns are guessed from their headers',
        ),
    ] = ""


class ImportRowError(BaseModel):
    """A row not imported, and why."""

    line: int | None
    reason: str


class ImportJobOut(BaseModel):
    """An import job: its progress while it runs, its report at the end."""

    id: int
    list_id: int | None
    filename: str
    status: str
    mode: str
    total_rows: int
    processed_rows: int
    added: int
    updated: int
    skipped: int
    errors: list[ImportRowError]
    created_at: datetime
    finished_at: datetime | None


def job_out(job: ImportJob) -> ImportJobOut:
    """The API view of an import job."""
    errors = [
        ImportRowError(line=e.get("line"), reason=str(e.get("reason", "")))
        for e in (job.errors or [])
        if isinstance(e, dict)
    ]
    return ImportJobOut(
        id=job.id,
        list_id=job.list_id,
        filename=job.filename,
        status=job.status,
        mode=job.mode,
        total_rows=job.total_rows or 0,
        processed_rows=job.processed_rows or 0,
        added=job.added or 0,
        updated=job.updated or 0,
        skipped=job.skipped or 0,
        errors=errors,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def _overrides(text: str) -> dict[str, str] | None:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ApiError(422, "invalid_mapping", "mapping must be a JSON object") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ApiError(422, "invalid_mapping", 'mapping must be {"column": "field"}')
    return value


def _check_upload(upload: FileStorage) -> None:
    if not (upload.filename or "").lower().endswith(IMPORT_SUFFIXES):
        raise ApiError(415, "unsupported_file", "only CSV and XLSX files can be imported")
    if (request.content_length or 0) > MAX_IMPORT_BYTES:
        raise ApiError(413, "too_large", f"imports are limited to {MAX_IMPORT_BYTES} bytes")


def _prepare(form: ImportForm, upload: FileStorage) -> tuple[ImportJob, int]:
    """Store the upload as a queued job with its column mapping; 4xx when unusable.
    Returns the job and the bytes its import will parse (``import_jobs.work_bytes``)."""
    session = db_session()
    try:
        target = importer.resolve_list(session, form.list_id)
    except import_terms.ImportSetupError as exc:
        raise ApiError(422, "invalid_list", str(exc)) from exc
    overrides = _overrides(form.mapping)
    try:
        job, info = import_jobs.store_upload(
            session,
            settings().data_dir,
            upload.save,
            list_id=target.id,
            filename=upload.filename or "upload",
            mode=str(form.mode),
            status="queued",
            created_by=api_user_id(),
        )
    except FileFormatError as exc:
        session.rollback()
        raise ApiError(422, "unreadable_file", str(exc)) from exc
    try:
        columns = import_columns.complete_mapping(info.headers, overrides)
    except import_terms.ImportSetupError as exc:
        import_jobs.job_path(settings().data_dir, job).unlink(missing_ok=True)
        session.rollback()
        raise ApiError(422, "unreadable_file", str(exc)) from exc
    job.mapping = {"columns": columns, "headers": info.headers}
    record("subscribers.import", "list", target.id, job=job.id, file=job.filename, mode=job.mode)
    session.commit()
    return job, import_jobs.work_bytes(settings().data_dir, job, info)


def _enqueue(job: ImportJob) -> None:
    from worker.tasks_audience import import_subscribers

    try:
        import_subscribers.apply_async(args=[job.id], retry=False)
    except Exception as exc:  # noqa: BLE001 - no queue: say so instead of a job stuck queued
        log.warning("import job %s could not be queued: %s", job.id, exc)
        session = db_session()
        job.status = "failed"
        unreachable = Message.of(
            "import.queue_unreachable", "the task queue is unreachable; try again"
        )
        job.errors = [import_terms.row_error(None, unreachable)]
        session.commit()
        raise ApiError(503, "queue_unavailable", "the task queue is unreachable") from exc


def register(bp: Blueprint) -> None:
    """Add the import operations to ``bp``."""

    @operation(
        bp,
        "POST",
        "/subscribers/imports",
        summary="Import subscribers from a file",
        tag=TAG,
        role="editor",
        multipart=ImportForm,
        files=("file",),
        response=ImportJobOut,
        status=202,
    )
    def imports_create(form: ImportForm, files: dict[str, FileStorage]) -> Any:
        """Upload a CSV or XLSX file (``file``) into a list. Files up to 512 KB (an XLSX:
        unpacked) are imported at once (``status`` is ``done`` or ``failed`` in the
        answer); larger ones are queued: poll ``GET /subscribers/imports/{job_id}``."""
        upload = files["file"]
        _check_upload(upload)
        job, work = _prepare(form, upload)
        if work <= SYNC_IMPORT_MAX_BYTES:
            session = db_session()
            finished = import_jobs.run_import_job(
                session, job.id, settings().data_dir, session.commit
            )
            return job_out(finished or job)
        _enqueue(job)
        return job_out(job)

    @operation(
        bp,
        "GET",
        "/subscribers/imports/<job_id>",
        summary="Get an import job",
        tag=TAG,
        role="editor",
        response=ImportJobOut,
    )
    def imports_show(job_id: int) -> Any:
        """Progress and, at the end, the report with every bad row and its reason."""
        return job_out(fetch(ImportJob, job_id, "import job"))
