"""Tasks of the issues domain: a heavy document upload, imported off the web request."""

from __future__ import annotations

from typing import Any

from worker.app import celery, settings, work_session

# The Word conversion stops itself after 30 s (service.issues.word_process); the rest of an
# import is well under that.
IMPORT_TIME_LIMIT_SECONDS = 300

# Periodic jobs of this module, merged into the beat schedule by worker.app.
BEAT: dict[str, dict[str, Any]] = {}


@celery.task(
    name="tidings.default.import_issue",
    time_limit=IMPORT_TIME_LIMIT_SECONDS,
    soft_time_limit=IMPORT_TIME_LIMIT_SECONDS - 60,
)
def import_issue(job_id: int) -> None:
    """Import the uploaded document of ``IssueImport`` ``job_id`` as a new issue."""
    from service.issues.import_jobs import run_document_import

    with work_session() as work:
        run_document_import(work, job_id, settings.data_dir, work.commit)
