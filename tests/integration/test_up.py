"""``tidings up``: the whole service starts, is healthy, and stops leaving nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from service.net import free_port
from service.ops.health import DEGRADED_RECHECK_SECONDS

ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT = 120.0


def _healthz(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())  # type: ignore[no-any-return]
    except OSError:
        return None


def _start(data_dir: Path, port: int, dead_redis_port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    # Point Redis at a port where nothing listens, so the bundled Redis must start,
    # as on a fresh machine; no SMTP URL, so the capture must start.
    env.update(
        {
            "TIDINGS_DATA_DIR": str(data_dir),
            "TIDINGS_REDIS_URL": f"redis://127.0.0.1:{dead_redis_port}/0",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "up", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_green(proc: subprocess.Popen[str], port: int) -> tuple[dict[str, object], str]:
    # First the banner (the service says it is up), then every check green.
    assert proc.stdout is not None
    banner = []
    for line in proc.stdout:
        banner.append(line)
        if "Stop with Ctrl-C" in line:
            break
    deadline = time.monotonic() + START_TIMEOUT
    body: dict[str, object] | None = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        body = _healthz(port)
        if body and body.get("status") == "ok":
            return body, "".join(banner)
        time.sleep(0.5)
    pytest.fail(f"not healthy in time: {body}")


def _log_in_and_look(port: int, password: str) -> dict[str, str]:
    """Log in through the real web server as a browser would; return a few pages."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    login_page = opener.open(f"{base}/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page)
    assert token, "the login page has no CSRF token"
    form = urllib.parse.urlencode(
        {"email": "admin@example.org", "password": password, "csrf_token": token.group(1)}
    ).encode()
    dashboard = opener.open(f"{base}/login", data=form, timeout=10).read().decode()
    # Each web process keeps its own round of checks; one whose last round was taken
    # before the worker reported may show it for DEGRADED_RECHECK_SECONDS more.
    deadline = time.monotonic() + DEGRADED_RECHECK_SECONDS + 1
    while dashboard.count('class="card check ok"') < 5 and time.monotonic() < deadline:
        time.sleep(0.5)
        dashboard = opener.open(f"{base}/", timeout=10).read().decode()
    issues = opener.open(f"{base}/issues", timeout=10).read().decode()
    lists = opener.open(f"{base}/lists", timeout=10).read().decode()
    return {"dashboard": dashboard, "issues": issues, "lists": lists}


def _terminate(proc: subprocess.Popen[str]) -> None:
    """After a failed assertion: stop the supervisor the polite way, so it stops its parts."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def _stop(proc: subprocess.Popen[str]) -> str:
    descendants = psutil.Process(proc.pid).children(recursive=True)
    assert len(descendants) >= 5  # web (+ its workers), worker (+ pool), beat, bounces, redis
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    gone, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, f"left behind: {[p.cmdline() for p in alive]}"
    return out


@pytest.mark.slow
def test_up_starts_everything_green_and_stops_without_orphans(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    proc = _start(tmp_path, port, dead)
    try:
        body, banner = _wait_green(proc, port)
        checks = body["checks"]
        assert isinstance(checks, dict)
        assert set(checks) == {"database", "redis", "worker", "beat", "smtp"}
        assert "capture" in checks["smtp"]["detail"]
        assert str(dead) not in checks["redis"]["detail"]  # the bundled one answered
        password = re.search(r"Password:\s+(\S+)", banner)
        assert password, banner
        pages = _log_in_and_look(port, password.group(1))
        assert 'data-check="worker"' in pages["dashboard"]
        assert pages["dashboard"].count('class="card check ok"') == 5
        assert "大连数字贸易" in pages["issues"]  # the demo issue is there
        assert "会员单位" in pages["lists"]
        out = _stop(proc)
    finally:
        _terminate(proc)
    assert "Password:" in banner and "admin@example.org" in banner
    assert "stopped." in out

    # A second start on the same data directory reuses it: no new admin, same demo.
    proc = _start(tmp_path, port, dead)
    try:
        _body, banner = _wait_green(proc, port)
        _stop(proc)
    finally:
        _terminate(proc)
    assert "Password:" not in banner and "existing account" in banner


@pytest.mark.slow
def test_a_killed_supervisor_takes_its_parts_with_it(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    proc = _start(tmp_path, port, dead)
    try:
        _wait_green(proc, port)
        parts = psutil.Process(proc.pid).children()  # web, worker, beat, bounces, redis
        assert len(parts) == 5
        proc.kill()  # SIGKILL: the supervisor cannot clean up itself
        proc.communicate(timeout=30)
        gone, alive = psutil.wait_procs(parts, timeout=30)
        assert not alive, f"left behind: {[p.cmdline() for p in alive]}"
    finally:
        _terminate(proc)
