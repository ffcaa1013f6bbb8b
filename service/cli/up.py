"""``tidings up``: the whole service as one process tree on one machine.

Runs migrations, finds or starts Redis, starts the SMTP capture when no relay is set,
then runs web, worker and beat as child processes (each in its own process group, so
stopping one also stops its own children), and stops them all on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from service import runtime
from service.config import Settings
from service.db import Database
from service.embedded_redis import redis_answers, start_bundled_redis
from service.mail.capture import CaptureStore, start_capture_server
from service.net import free_port, port_open
from service.processes import SUPERVISOR_PID_VARIABLE, die_with_parent, stop_process_group
from service.runtime import served_base_url

DEFAULT_CAPTURE_PORT = 2525
DEFAULT_BOUNCE_PORT = 2526
FIRST_ADMIN_EMAIL = "admin@example.org"
WEB_READY_TIMEOUT_SECONDS = 60.0
RESTART_LIMIT = 5  # a part that keeps crashing stops the whole service, loudly
POLL_SECONDS = 0.5


@dataclass
class Child:
    """One part of the service running as a child process."""

    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        """Start (or restart) the process, appending its output to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signum)


def prepare_database(settings: Settings, load_demo_data: bool) -> str | None:
    """Migrate, create the first admin on a fresh install, load the demo on an empty one.

    Returns the first admin's password when one was just created (printed once).
    """
    from sqlalchemy import func, select

    from service.accounts.users import count_users, create_user, generate_password
    from service.cli.demo import load_demo
    from service.migrate import upgrade
    from service.model import Issue, Role

    upgrade(settings.database_url)
    database = Database(settings.database_url)
    password = None
    try:
        with database.transaction() as session:
            if count_users(session) == 0:
                password = generate_password()
                create_user(session, FIRST_ADMIN_EMAIL, password, Role.ADMIN)
            if load_demo_data and not session.scalar(select(func.count(Issue.id))):
                load_demo(session)
    finally:
        database.dispose()
    return password


def child_env(
    settings: Settings, redis_url: str, smtp_url: str | None, base_url: str
) -> dict[str, str]:
    """The environment every part runs with: the resolved Redis, SMTP, base URL and paths."""
    env = dict(os.environ)
    env.update(
        {
            "TIDINGS_DATA_DIR": str(settings.data_dir),
            "TIDINGS_DATABASE_URL": settings.database_url,
            "TIDINGS_REDIS_URL": redis_url,
            "TIDINGS_BASE_URL": base_url,
            "PYTHONUNBUFFERED": "1",
            SUPERVISOR_PID_VARIABLE: str(os.getpid()),
        }
    )
    if smtp_url:
        env["TIDINGS_SMTP_URL"] = smtp_url
        env["TIDINGS_SMTP_CAPTURE"] = "1"
    return env


def _children(settings: Settings, host: str, port: int, bounce_port: int) -> list[Child]:
    logs = settings.data_dir / "logs"
    cli = [sys.executable, "-m", "service.cli"]
    return [
        Child("web", cli + ["web", "--host", host, "--port", str(port)], logs / "web.log"),
        Child("worker", cli + ["worker"], logs / "worker.log"),
        Child("beat", cli + ["beat"], logs / "beat.log"),
        Child(
            "bounces",
            cli + ["bounces", "--host", "127.0.0.1", "--port", str(bounce_port)],
            logs / "bounces.log",
        ),
    ]


def _port_or_free(preferred: int) -> int:
    return preferred if not port_open("127.0.0.1", preferred, 0.3) else free_port()


def _wait_for_web(url: str, web: Child) -> bool:
    deadline = time.monotonic() + WEB_READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not web.alive():
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered: 503 only means a part is still starting
        except OSError:
            time.sleep(0.3)
    return False


def _say(text: str = "") -> None:
    print(text, flush=True)


def run_up(
    settings: Settings, host: str = "127.0.0.1", port: int = 8000, load_demo_data: bool = True
) -> int:
    """Run everything until Ctrl-C or SIGTERM; return the exit status."""
    if port_open(host if host != "0.0.0.0" else "127.0.0.1", port, timeout=0.5):
        _say(f"error: something already listens on {host}:{port}; choose another --port")
        return 2
    if runtime.current(settings.data_dir):
        _say(
            f"error: Tidings already runs on the data directory {settings.data_dir}; "
            "stop it first, or use another TIDINGS_DATA_DIR"
        )
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    old_int = signal.signal(signal.SIGINT, _raise_stop)
    old_term = signal.signal(signal.SIGTERM, _raise_stop)
    redis_proc: subprocess.Popen[bytes] | None = None
    capture = None
    children: list[Child] = []
    try:
        password = prepare_database(settings, load_demo_data)

        redis_url = settings.redis_url
        if not redis_answers(redis_url):
            if settings.redis_url_explicit:
                _say(
                    f"note: nothing answers at TIDINGS_REDIS_URL={redis_url}; "
                    "starting the bundled Redis instead"
                )
            redis_proc, redis_url = start_bundled_redis(settings.data_dir)

        smtp_url = None
        if settings.smtp is None:
            capture_port = _port_or_free(DEFAULT_CAPTURE_PORT)
            capture = start_capture_server(
                CaptureStore(settings.data_dir / "outbox"), port=capture_port
            )
            smtp_url = f"smtp://127.0.0.1:{capture_port}"

        # Unset TIDINGS_BASE_URL follows the port served: links in mail must reach this web.
        base_url = settings.base_url if settings.base_url_explicit else served_base_url(host, port)
        env = child_env(settings, redis_url, smtp_url, base_url)
        _publish_runtime(settings, base_url, redis_url, smtp_url)
        bounce_port = _port_or_free(DEFAULT_BOUNCE_PORT)
        children = _children(settings, host, port, bounce_port)
        for child in children:
            child.start(env)

        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        admin_url = f"http://{shown_host}:{port}/"
        if not _wait_for_web(f"http://{shown_host}:{port}", children[0]):
            _say(f"error: the web server did not start; see {children[0].log_path}")
            return 1
        _banner(
            settings,
            admin_url,
            password,
            Resolved(base_url, redis_url, redis_proc is not None, smtp_url, bounce_port),
        )
        return _watch(children, env)
    except _Stop:
        _say("\nstopping…")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in reversed(children):
            if child.proc is not None:
                stop_process_group(child.proc)
            if child.log is not None:
                child.log.close()
        runtime.withdraw(settings.data_dir)
        if capture is not None:
            capture.stop()
        if redis_proc is not None:
            stop_process_group(redis_proc)
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        if children:
            _say("stopped.")


def _watch(children: list[Child], env: dict[str, str]) -> int:
    while True:
        time.sleep(POLL_SECONDS)
        for child in children:
            if child.alive():
                continue
            code = child.proc.returncode if child.proc else None
            if child.restarts >= RESTART_LIMIT:
                _say(
                    f"error: {child.name} keeps exiting (last status {code}); "
                    f"see {child.log_path}. Stopping."
                )
                return 1
            child.restarts += 1
            _say(
                f"warning: {child.name} exited with status {code}; restarting "
                f"({child.restarts}/{RESTART_LIMIT}), see {child.log_path}"
            )
            child.start(env)


def _publish_runtime(
    settings: Settings, base_url: str, redis_url: str, smtp_url: str | None
) -> None:
    """Let commands in other shells find this service's parts (``service.runtime``)."""
    values = {runtime.BASE_URL: base_url, runtime.REDIS_URL: redis_url}
    if smtp_url:
        values[runtime.SMTP_URL] = smtp_url
    runtime.publish(settings.data_dir, **values)


@dataclass(frozen=True)
class Resolved:
    """What ``tidings up`` found or started, for the banner."""

    base_url: str
    redis_url: str
    bundled_redis: bool
    smtp_url: str | None
    bounce_port: int


def _banner(settings: Settings, admin_url: str, password: str | None, parts: Resolved) -> None:
    redis_url, bundled, smtp_url, bounce_port = (
        parts.redis_url,
        parts.bundled_redis,
        parts.smtp_url,
        parts.bounce_port,
    )
    origin = "TIDINGS_BASE_URL" if settings.base_url_explicit else "the port served"
    _say("")
    _say("  Tidings is running.")
    _say(f"  Admin:      {admin_url}")
    _say(f"  Public URL: {parts.base_url}    (links in mail; from {origin})")
    if password:
        _say(f"  Log in as:  {FIRST_ADMIN_EMAIL}")
        _say(f"  Password:   {password}    (shown only this once; keep it)")
    else:
        _say(
            "  Log in with your existing account (the first admin is "
            f"{FIRST_ADMIN_EMAIL}; add another with 'tidings user add')."
        )
    _say(f"  Database:   {settings.database_url.split('@')[-1]}")
    _say(f"  Redis:      {redis_url}{' (bundled)' if bundled else ''}")
    if smtp_url:
        _say(
            f"  Mail:       captured by the local SMTP server at {smtp_url} "
            "(see Outbox in the admin)"
        )
    else:
        assert settings.smtp is not None
        _say(f"  Mail:       relay {settings.smtp.display}")
    _say(f"  Bounces:    listener for @{settings.bounce_domain} at 127.0.0.1:{bounce_port}")
    _say(f"  Logs:       {settings.data_dir / 'logs'}")
    _say("  Stop with Ctrl-C.")
    _say("")
