"""Heavy document uploads handed to the worker, for the admin's upload page and the API.

A Word document with a large body takes seconds of conversion: the request keeps the file
and a queued ``IssueImport`` row, the worker imports it, and the page or the API client
polls the row (issue 13: no upload holds a web request for long).
"""

from __future__ import annotations

from service.errors import Message
from service.issues import import_jobs
from service.model import IssueImport
from service.web.context import db_session, settings


def queue_heavy_import(
    filename: str, data: bytes, user_id: int | None, *, allow_duplicate: bool
) -> IssueImport:
    """Keep ``data`` for the worker, commit its job and enqueue it (see ``enqueue_import``)."""
    session = db_session()
    job = import_jobs.queue_document(session, settings().data_dir, filename, data, user_id)
    job.allow_duplicate = allow_duplicate
    session.commit()
    enqueue_import(job)
    return job


def enqueue_import(job: IssueImport) -> None:
    """Ask the worker to import ``job``; with no queue the job fails with that reason, so
    that whoever polls it is told instead of waiting for ever."""
    from worker.tasks_issues import import_issue

    try:
        import_issue.delay(job.id)
    except Exception:  # noqa: BLE001 - any broker error: the job says so
        job.status = "failed"
        job.error = Message.of(
            "import.queue_unreachable", "the task queue is unreachable; try again"
        ).dump()
        db_session().commit()
