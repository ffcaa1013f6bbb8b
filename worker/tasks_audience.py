"""Tasks of the audience domain: the subscriber import and bulk actions on a filter."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from worker.app import AppTask, celery, flask_app, settings

# A large import (a million rows) takes a few minutes; the default limit is for batches.
IMPORT_TIME_LIMIT_SECONDS = 3600

# Periodic jobs of this module, merged into the beat schedule by worker.app.
BEAT: dict[str, dict[str, Any]] = {}


def _work_session() -> Session:
    # Progress must be committed chunk by chunk so the admin's progress bar moves; the
    # AppTask session is one transaction, so the work runs in a session of its own.
    from service import get_db

    return get_db(flask_app()).session()


@celery.task(
    name="tidings.default.import_subscribers",
    base=AppTask,
    time_limit=IMPORT_TIME_LIMIT_SECONDS,
    soft_time_limit=IMPORT_TIME_LIMIT_SECONDS - 60,
)
def import_subscribers(_session: Session, job_id: int) -> None:
    """Run the import job ``job_id`` (uploaded and mapped in the admin)."""
    from service.subscribers.importer import run_import_job

    with _work_session() as work:
        run_import_job(work, job_id, settings.data_dir, work.commit)


@celery.task(
    name="tidings.default.bulk_subscribers",
    base=AppTask,
    time_limit=IMPORT_TIME_LIMIT_SECONDS,
    soft_time_limit=IMPORT_TIME_LIMIT_SECONDS - 60,
)
def bulk_subscribers(
    _session: Session,
    action: str,
    filter_args: dict[str, Any],
    list_id: int | None,
    user_id: int | None,
    ip: str | None,
) -> None:
    """Apply a bulk action to a whole filter result, committing chunk by chunk."""
    from service.subscribers.bulk import apply_bulk
    from service.subscribers.query import SubscriberFilter

    with _work_session() as work:
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
