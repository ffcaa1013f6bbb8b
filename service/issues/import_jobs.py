"""Heavy document uploads imported by the worker, not in the web request.

A Markdown file or a small Word document is imported while the editor waits (well under a
second). A Word document whose body holds more than ``IN_REQUEST_MAX_TAGS`` XML tags takes
mammoth seconds (up to the child's 30 s limit at the caps of ``DOCX_LIMITS``), so the admin
keeps it as an :class:`IssueImport` with its file under the data directory and the worker's
``import_issue`` task runs :func:`run_document_import`; the admin's page polls the row. The
API and the command line import in their own request or process, with the same caps and
the same child process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path, PurePath

from sqlalchemy.orm import Session

from service.containers import DOCX_LIMITS, ContainerError, check_zip
from service.errors import Message, message_of
from service.issues.importer import DOCX_SUFFIXES, DocumentImportError
from service.issues.store import DuplicateIssue, create_issue_from_document
from service.model import IssueImport, utcnow

log = logging.getLogger(__name__)

# ≈ 1 s of mammoth on the production machine: a 40-page issue of prose (≈ 50,000 tags)
# stays in the request, a document with a much larger body goes to the worker.
IN_REQUEST_MAX_TAGS = 60_000
UPLOAD_FOLDER = "issue-imports"
# How much of an unexpected error a failed import quotes.
MAX_STOP_REASON_CHARS = 1000


def is_heavy(filename: str, data: bytes) -> bool:
    """Whether importing ``data`` is worth a trip to the worker: a Word document with a
    large body. A file the container check refuses is not: the request says why at once."""
    if PurePath(filename).suffix.lower() not in DOCX_SUFFIXES:
        return False
    try:
        return check_zip(data, DOCX_LIMITS).xml_elements > IN_REQUEST_MAX_TAGS
    except ContainerError:
        return False


def upload_path(data_dir: Path, job_id: int) -> Path:
    """Where the uploaded document of import ``job_id`` waits for the worker."""
    return data_dir / UPLOAD_FOLDER / f"{job_id}.upload"


def queue_document(
    session: Session, data_dir: Path, filename: str, data: bytes, user_id: int | None
) -> IssueImport:
    """Keep an upload for the worker: the row (flushed, uncommitted) and its file."""
    job = IssueImport(filename=filename[-300:], status="queued", created_by=user_id)
    session.add(job)
    session.flush()
    path = upload_path(data_dir, job.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return job


def queue_again(job: IssueImport) -> bool:
    """ "Import anyway" for a refused duplicate: queue it again, allowing the duplicate.
    False when the import is not waiting for that answer."""
    if job.status != "duplicate":
        return False
    job.status = "queued"
    job.allow_duplicate = True
    job.error = None
    job.finished_at = None
    return True


def run_document_import(
    session: Session, job_id: int, data_dir: Path, commit: Callable[[], None]
) -> IssueImport | None:
    """Import the queued document of ``job_id`` (the worker's side of a heavy upload).

    Ends ``done`` (with the new issue), ``duplicate`` (the file is kept for "import
    anyway") or ``failed`` with the reason; never stays ``running``.
    """
    job = session.get(IssueImport, job_id)
    if job is None or job.status not in ("queued", "running"):
        return job  # a duplicate or stale message: nothing to do
    job.status = "running"
    commit()
    path = upload_path(data_dir, job_id)
    keep_file = False
    try:
        issue = create_issue_from_document(
            session,
            job.filename,
            path.read_bytes(),
            job.created_by,
            allow_duplicate=job.allow_duplicate,
        )
    except DuplicateIssue as exc:
        session.rollback()
        job = _reloaded(session, job_id)
        job.status, job.duplicate_of, job.error = "duplicate", exc.duplicate_of, exc.detail.dump()
        keep_file = True
    except Exception as exc:
        # Whatever happened, the page must not poll for ever: it says why.
        expected = isinstance(exc, (DocumentImportError, OSError))
        if not expected:
            log.exception("issue import %s failed", job_id)
        session.rollback()
        job = _reloaded(session, job_id)
        job.status = "failed"
        job.error = (message_of(exc) if expected else _stopped(exc)).dump()
    else:
        job.status, job.issue_id = "done", issue.id
    job.finished_at = utcnow()
    commit()
    if not keep_file:
        path.unlink(missing_ok=True)
    return job


def _reloaded(session: Session, job_id: int) -> IssueImport:
    job = session.get(IssueImport, job_id)
    assert job is not None
    return job


def _stopped(exc: Exception) -> Message:
    # A bug or an outage, not the document: say what broke (the log has the traceback).
    error = f"{type(exc).__name__}: {exc}"[:MAX_STOP_REASON_CHARS]
    return Message.of("import.stopped", "the import stopped: %(error)s", error=error)
