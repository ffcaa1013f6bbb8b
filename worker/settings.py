"""Celery settings (DESIGN §5): the database is the ledger, Redis messages are hints."""

from __future__ import annotations

from typing import Any

from kombu import Queue

# A task that runs longer than this is killed; a delivery claimed by it becomes
# "unknown" after the sweep's own, longer, grace period.
TASK_TIME_LIMIT_SECONDS = 600
TASK_SOFT_TIME_LIMIT_SECONDS = 540
# Redis re-delivers an unacked message after this long. It must stay far above the
# task time limit, or a slow batch would be handed to a second worker while running.
VISIBILITY_TIMEOUT_SECONDS = 6 * 3600
BEAT_TICK_SECONDS = 15.0

QUEUES = ("send", "events", "default")


def celery_config(redis_url: str) -> dict[str, Any]:
    """The Celery configuration for a broker at ``redis_url``."""
    return {
        "broker_url": redis_url,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        "broker_connection_retry_on_startup": True,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_acks_late": True,
        # A worker killed mid-task must not lose the message: it goes back to the queue.
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": TASK_TIME_LIMIT_SECONDS,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT_SECONDS,
        "task_queues": [Queue(name) for name in QUEUES],
        "task_default_queue": "default",
        "task_routes": {
            # Settling dead workers' claims must not wait behind the queued batches.
            "tidings.send.settle": {"queue": "default"},
            "tidings.send.*": {"queue": "send"},
            "tidings.events.*": {"queue": "events"},
        },
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(),
    }


def beat_schedule() -> dict[str, dict[str, Any]]:
    """Periodic jobs. Each issue that needs one adds it here."""
    return {
        "beat-heartbeat": {"task": "tidings.default.beat_heartbeat", "schedule": BEAT_TICK_SECONDS},
    }
