"""Import jobs: the admin's (and the API's) upload, stored, mapped and run by the worker.

``store_upload`` makes the ``ImportJob`` and keeps its file under the data directory;
``run_import_job`` runs ``importer.import_file`` on it and copies the report onto the job
chunk by chunk, so the admin's progress bar moves. Separate from the import itself, which
the CLI and the bench run without any job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from service.containers import unpacked_size
from service.errors import Message, message_of
from service.model import ImportJob, utcnow
from service.subscribers.import_terms import ImportReport, ImportSetupError, ImportTarget, row_error
from service.subscribers.importer import import_file
from service.subscribers.tabular import FileFormatError, TableInfo, sniff

log = logging.getLogger(__name__)

# How much of an unexpected error a failed job's report quotes.
MAX_STOP_REASON_CHARS = 1000


def store_progress(job: ImportJob, report: ImportReport, final: bool = False) -> None:
    """Copy the report's counters onto the job (errors only at the end: the list can be
    long, and rewriting it every chunk would cost more than the import)."""
    job.encoding = report.encoding
    job.total_rows = report.total
    job.processed_rows = report.processed
    job.added = report.added
    job.updated = report.updated
    job.skipped = report.skipped
    extra = {
        "unchanged": report.unchanged,
        "duplicates": report.duplicates,
        "smtputf8": report.smtputf8,
        "cleaned": report.cleaned,
        "error_count": len(report.errors),
        "delimiter": report.delimiter,
    }
    job.mapping = {**(job.mapping or {}), "report": extra}
    if final:
        job.errors = list(report.errors)


def job_mapping(job: ImportJob) -> dict[str, str]:
    """The column mapping chosen on the mapping page."""
    return dict((job.mapping or {}).get("columns", {}))


def job_path(data_dir: Path, job: ImportJob) -> Path:
    """Where the uploaded file of ``job`` waits for the worker."""
    return data_dir / "imports" / f"{job.id}.upload"


def work_bytes(data_dir: Path, job: ImportJob, info: TableInfo) -> int:
    """How much a parser reads to import ``job``'s file: a CSV's size, or what an XLSX
    unpacks to (a 500 KB workbook can hold a 60 MB sheet)."""
    path = job_path(data_dir, job)
    return unpacked_size(path) if info.kind == "xlsx" else path.stat().st_size


def store_upload(
    session: Session,
    data_dir: Path,
    save: Callable[[Path], None],
    *,
    list_id: int,
    filename: str,
    mode: str,
    status: str,
    created_by: int | None,
) -> tuple[ImportJob, TableInfo]:
    """Make an import job, store its file (``save(path)``) and read its shape.

    Raises ``FileFormatError`` for a file that cannot be imported; the stored file is
    removed then and the caller rolls the job back.
    """
    job = ImportJob(
        list_id=list_id, filename=filename[-300:], status=status, mode=mode, created_by=created_by
    )
    session.add(job)
    session.flush()
    path = job_path(data_dir, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(path)
    try:
        info = sniff(path)
    except FileFormatError:
        path.unlink(missing_ok=True)
        raise
    job.encoding = info.encoding_label
    return job, info


def run_import_job(
    session: Session, job_id: int, data_dir: Path, commit: Callable[[], None]
) -> ImportJob | None:
    """Run a queued import job (the worker's side of the admin upload).

    Progress is committed after every chunk so the admin's progress bar moves; a file that
    turns out unreadable ends the job as ``failed`` with the reason in ``errors``.
    """
    job = session.get(ImportJob, job_id)
    if job is None or job.status not in ("queued", "running"):
        return job  # a duplicate or stale message: nothing to do
    job.status = "running"
    commit()
    path = job_path(data_dir, job)
    target = ImportTarget(job.list_id or 0, job.mode, job.filename, job.id)

    def progress(report: ImportReport) -> None:
        assert job is not None
        store_progress(job, report)
        commit()

    try:
        if job.list_id is None:
            raise ImportSetupError(
                "import.list_deleted", "the list was deleted before the import ran"
            )
        report = import_file(session, path, target, job_mapping(job), on_chunk=progress)
    except Exception as exc:
        # Whatever happened, the job must not stay "running" for ever: the page says why.
        # Chunks already committed stay imported (their rows were good).
        expected = isinstance(exc, (FileFormatError, ImportSetupError, OSError))
        if not expected:
            log.exception("import job %s failed", job_id)
        session.rollback()
        job = session.get(ImportJob, job_id)
        assert job is not None
        job.status = "failed"
        job.errors = [row_error(None, message_of(exc) if expected else _stopped(exc))]
    else:
        store_progress(job, report, final=True)
        job.status = "done"
    job.finished_at = utcnow()
    commit()
    path.unlink(missing_ok=True)
    return job


def _stopped(exc: Exception) -> Message:
    # A bug or an outage, not the file: say what broke (the log has the traceback).
    error = f"{type(exc).__name__}: {exc}"[:MAX_STOP_REASON_CHARS]
    return Message.of("import.stopped", "the import stopped: %(error)s", error=error)
