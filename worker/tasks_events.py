"""Tasks of the events domain (queue `events`) and its beat jobs.

Thin wrappers: the work is in ``service.events``. The bounce tasks open their own
transaction (instead of ``AppTask``) so a stored message file is moved out of the queue
folder, or an IMAP message to the processed folder, only after the database commit.
"""

from __future__ import annotations

import logging
from typing import Any

from worker.app import app_database, celery, settings, work_session

log = logging.getLogger(__name__)

TRACKING_FLUSH_SECONDS = 5.0
INBOUND_SWEEP_SECONDS = 60.0
MAILBOX_POLL_SECONDS = 120.0

# Periodic jobs of this module, merged into the beat schedule by worker.app.
BEAT: dict[str, dict[str, Any]] = {
    "events-flush-tracking": {
        "task": "tidings.events.flush_tracking",
        "schedule": TRACKING_FLUSH_SECONDS,
    },
    "events-sweep-inbound": {
        "task": "tidings.events.sweep_inbound",
        "schedule": INBOUND_SWEEP_SECONDS,
    },
    "events-poll-mailbox": {
        "task": "tidings.events.poll_mailbox",
        "schedule": MAILBOX_POLL_SECONDS,
    },
}


@celery.task(name="tidings.events.process_bounce", ignore_result=True)
def process_bounce(filename: str) -> str:
    """Process one stored inbound message (``<data_dir>/inbound/<filename>``)."""
    from service.events.inbound import finish_file, inbound_dir, process_file

    path = inbound_dir(settings) / filename
    if path.name != filename or not path.exists():
        return "gone"  # already processed by a twin task, or not one of ours
    with app_database().transaction() as session:
        result = process_file(session, settings, path)
    finish_file(path, ok=True)
    return str(result.kind) if result else "gone"


@celery.task(name="tidings.events.sweep_inbound", ignore_result=True)
def sweep_inbound() -> int:
    """Re-queue stored messages whose queue hint was lost (Redis hiccup, crash)."""
    from service.events.inbound import MAX_RETRY_SECONDS, finish_file, stale_files

    for path in stale_files(settings, older_than=MAX_RETRY_SECONDS):
        log.error("inbound %s kept failing for a day; moved to inbound/failed", path.name)
        finish_file(path, ok=False)
    files = stale_files(settings)
    for path in files:
        process_bounce.delay(path.name)
    return len(files)


@celery.task(name="tidings.events.flush_tracking", ignore_result=True)
def flush_tracking() -> int:
    """Write pending opens and clicks from Redis to the database in batches."""
    from service.events.tracking import flush_hits, redis_for

    return flush_hits(app_database(), redis_for(settings.redis_url))


@celery.task(name="tidings.events.poll_mailbox", ignore_result=True)
def poll_mailbox() -> int:
    """Read new messages of the bounce mailbox (IMAP), if one is configured."""
    from service.events.mailbox import poll_configured_mailbox

    # Not AppTask: the poll commits before it moves the messages (and again for its
    # status), and a commit inside AppTask's transaction ends it for the rest.
    with work_session() as session:
        return poll_configured_mailbox(session, settings)
