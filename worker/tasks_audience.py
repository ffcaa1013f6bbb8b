"""Tasks of the audience domain: the subscriber import and bulk actions on a filter."""

from __future__ import annotations

from typing import Any

from worker.app import celery, settings, work_session

# A large import (a million rows) takes a few minutes; the default limit is for batches.
IMPORT_TIME_LIMIT_SECONDS = 3600

# Periodic jobs of this module, merged into the beat schedule by worker.app.
BEAT: dict[str, dict[str, Any]] = {}


@celery.task(
    name="tidings.default.import_subscribers",
    time_limit=IMPORT_TIME_LIMIT_SECONDS,
    soft_time_limit=IMPORT_TIME_LIMIT_SECONDS - 60,
)
def import_subscribers(job_id: int) -> None:
    """Run the import job ``job_id`` (uploaded and mapped in the admin); progress is
    committed chunk by chunk so the admin's progress bar moves."""
    from service.subscribers.import_jobs import run_import_job

    with work_session() as work:
        run_import_job(work, job_id, settings.data_dir, work.commit)


@celery.task(
    name="tidings.default.bulk_subscribers",
    time_limit=IMPORT_TIME_LIMIT_SECONDS,
    soft_time_limit=IMPORT_TIME_LIMIT_SECONDS - 60,
)
def bulk_subscribers(
    action: str,
    filter_args: dict[str, Any],
    list_id: int | None,
    user_id: int | None,
    ip: str | None,
) -> None:
    """Apply a bulk action to a whole filter result, committing chunk by chunk."""
    from service.subscribers.bulk import apply_bulk
    from service.subscribers.query import SubscriberFilter

    with work_session() as work:
        apply_bulk(
            work,
            action,
            flt=SubscriberFilter.from_args(filter_args),
            list_id=list_id,
            user_id=user_id,
            ip=ip,
            on_chunk=work.commit,
        )
        work.commit()
