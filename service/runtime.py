"""What the service running on this machine resolved when it started.

``tidings up`` picks a port for the web, finds or starts a Redis and starts the SMTP
capture; ``tidings web --port`` serves on a port of its own choosing. A ``tidings …``
command typed in another shell, with the same embedded defaults (no ``TIDINGS_*``
variables), must use those same parts: the base URL the web actually serves (or every
link it writes into mail points at a port where nothing answers), the Redis the workers
listen on, the capture that shows the mail in the Outbox. The starting process writes them
to ``<data dir>/run/service.json``; ``load_settings`` reads them for variables left unset,
and only while the process that wrote them still runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

RUNTIME_FILE = Path("run") / "service.json"
OWNER = "pid"
# The values a command may take from the running service, by the variable they stand for.
BASE_URL = "base_url"
REDIS_URL = "redis_url"
SMTP_URL = "smtp_url"


def _path(data_dir: Path) -> Path:
    return data_dir / RUNTIME_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def publish(data_dir: Path, **values: str) -> None:
    """Record ``values`` as this process's (written atomically; readers never see half)."""
    path = _path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({OWNER: os.getpid(), **values}))
    os.replace(tmp, path)


def current(data_dir: Path) -> dict[str, str]:
    """The values of the service running now; empty when none runs (or it crashed)."""
    try:
        data = json.loads(_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get(OWNER), int):
        return {}
    if not _alive(data[OWNER]):
        return {}
    return {k: v for k, v in data.items() if k != OWNER and isinstance(v, str)}


def withdraw(data_dir: Path) -> None:
    """Remove the record if this process wrote it (at shutdown)."""
    path = _path(data_dir)
    try:
        if json.loads(path.read_text()).get(OWNER) == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def served_base_url(host: str, port: int) -> str:
    """The base URL of a web server bound to ``host:port``, as this machine reaches it
    (a wildcard bind is reached on the loopback address)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
