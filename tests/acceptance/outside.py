"""How the acceptance tests meet Tidings: from the outside, as users, scripts and readers do.

- a script: the installed ``tidings`` console script, each call its own process, on a fresh
  ``TIDINGS_DATA_DIR`` with no other ``TIDINGS_*`` variable unless the test says so;
- a newcomer: ``tidings up --port <free port>``, its banner, the admin over real HTTP;
- a reader: the mail as an SMTP relay received it, every link followed with no session.

Nothing here imports the service: a helper that read names from the code under test
could not notice the code breaking them.
"""

from __future__ import annotations

import email
import html
import html.parser
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_ISSUE = ROOT / "demo" / "dldta-2026-q1.md"
# The console script pip installed next to this interpreter: what a user types.
TIDINGS = Path(sys.executable).with_name("tidings")
CLI_TIMEOUT = 180.0
UP_TIMEOUT = 180.0
FINISH_TIMEOUT = 600.0  # a loaded 2-core CI machine sends slowly


def fresh_env(data_dir: Path, **variables: str) -> dict[str, str]:
    """The environment of a new user: no ``TIDINGS_*`` but the data directory (and
    ``variables``, which a test names on purpose)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env["TIDINGS_DATA_DIR"] = str(data_dir)
    env.update(variables)
    return env


def _workdir(env: Mapping[str, str]) -> Path:
    # A user's shell is somewhere else than the repository: run from the data dir's parent.
    return Path(env["TIDINGS_DATA_DIR"]).parent


def tidings(
    env: Mapping[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``tidings ARGS`` as its own process; fail the test with its output if it fails."""
    if not TIDINGS.exists():
        pytest.fail(f"the console script {TIDINGS} is not installed (pip install -e .)")
    proc = subprocess.run(
        [str(TIDINGS), *args],
        env=dict(env),
        cwd=_workdir(env),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"tidings {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def tidings_json(env: Mapping[str, str], *args: str) -> dict[str, Any]:
    """Run ``tidings ARGS --json``; its stdout must be exactly one JSON object."""
    out = tidings(env, *args, "--json").stdout
    try:
        value = json.loads(out)
    except json.JSONDecodeError:
        pytest.fail(f"tidings {' '.join(args)} --json printed no single JSON object: {out!r}")
    assert isinstance(value, dict), out
    return value


# ---------------------------------------------------------------------- tidings up


@dataclass
class Running:
    """A ``tidings up`` process and what its banner said."""

    proc: subprocess.Popen[str]
    port: int
    banner: str
    env: dict[str, str]

    @property
    def base(self) -> str:
        """Where a browser on this machine reaches the service."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def password(self) -> str:
        """The first admin's password, printed once."""
        match = re.search(r"Password:\s+(\S+)", self.banner)
        assert match, f"the banner shows no password:\n{self.banner}"
        return match.group(1)


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=3) as resp:
            return bool(json.loads(resp.read()).get("status") == "ok")
    except (OSError, ValueError):
        return False


@contextmanager
def tidings_up(env: dict[str, str], port: int, *args: str) -> Iterator[Running]:
    """``tidings up --port PORT ARGS`` until every health check is green; stopped after."""
    proc = subprocess.Popen(
        [str(TIDINGS), "up", "--port", str(port), *args],
        env=env,
        cwd=_workdir(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_banner(proc)
        running = Running(proc, port, banner, env)
        deadline = time.monotonic() + UP_TIMEOUT
        while not _healthy(running.base):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tidings up never got healthy:\n{banner}")
            time.sleep(0.5)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def _read_banner(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + UP_TIMEOUT
    for line in proc.stdout:
        lines.append(line)
        if "Stop with Ctrl-C" in line:
            return "".join(lines)
        if time.monotonic() > deadline:
            break
    pytest.fail("tidings up printed no banner:\n" + "".join(lines))


def wait_finished(env: Mapping[str, str], campaign_id: int) -> dict[str, Any]:
    """Poll ``tidings campaign show ID --json`` (a process each time) until it is done."""
    deadline = time.monotonic() + FINISH_TIMEOUT
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = tidings_json(env, "campaign", "show", str(campaign_id))
        if shown.get("status") in ("finished", "cancelled", "paused"):
            return shown
        time.sleep(1.0)
    pytest.fail(f"campaign {campaign_id} did not finish in time: {shown}")


# ---------------------------------------------------------------------- mail and links


def parse(data: bytes) -> EmailMessage:
    """A received message, parsed with the modern policy."""
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action") and value:
                self.urls.append(value.strip())


URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'\]\)）」，。]+")


@dataclass
class MailLinks:
    """Every link a reader can follow in one message, by where it sits."""

    html: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)

    def all_http(self) -> list[str]:
        """The http(s) links, each once, in order."""
        seen: dict[str, None] = {}
        for url in self.html + self.text + self.header:
            if url.startswith(("http://", "https://")):
                seen.setdefault(url, None)
        return list(seen)


def links_of(message: EmailMessage) -> MailLinks:
    """The links of a message: its HTML part (href, src), its text part, List-Unsubscribe."""
    found = MailLinks()
    for part in message.walk():
        if part.get_content_type() == "text/html":
            parser = _Links()
            parser.feed(part.get_content())
            found.html += [u for u in parser.urls if not u.startswith("#")]
        elif part.get_content_type() == "text/plain":
            found.text += URL_IN_TEXT.findall(part.get_content())
    header = str(message.get("List-Unsubscribe", ""))
    found.header = re.findall(r"<([^>]+)>", header)
    return found


@dataclass
class Answer:
    """Where following a link ended."""

    url: str
    status: int
    hops: list[str]
    external: str | None = None  # a redirect that left this service: its target


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def follow(url: str, own: str, method: str = "GET", hops: int = 5) -> Answer:
    """Follow ``url`` from outside (no cookies), redirects by hand, staying on ``own``
    (scheme://host:port): a redirect elsewhere ends the walk with its target noted."""
    opener = urllib.request.build_opener(_NoRedirect)
    seen = [url]
    for _ in range(hops):
        request = urllib.request.Request(url, method=method)
        try:
            with opener.open(request, timeout=20) as resp:
                resp.read()
                return Answer(url, resp.status, seen)
        except urllib.error.HTTPError as exc:
            if exc.code not in (301, 302, 303, 307, 308):
                return Answer(url, exc.code, seen)
            target = urllib.parse.urljoin(url, exc.headers.get("Location", ""))
            if not target.startswith(own + "/"):
                return Answer(url, exc.code, seen, external=target)
            url = target
            seen.append(url)
            method = "GET"
    return Answer(url, 0, seen)


def one_click(url: str) -> int:
    """RFC 8058 one-click exactly as a mailbox provider sends it: POST, no cookie."""
    request = urllib.request.Request(
        url,
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=20) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def post_form(url: str, fields: Mapping[str, str]) -> int:
    """POST a public form as a reader's browser would (no session)."""
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(fields).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


class Browser:
    """A reader's browser, reduced to what a form needs: a cookie jar and redirects."""

    def __init__(self) -> None:
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def get(self, url: str) -> tuple[int, str]:
        """The status and the page of a GET."""
        return self._open(urllib.request.Request(url))

    def submit(
        self, url: str, page: str, fields: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """POST the first form of ``page`` (fetched from ``url``) with its hidden fields,
        as pressing its button does."""
        form = re.search(r"<form[^>]*action=\"([^\"]+)\"(.*?)</form>", page, re.S)
        assert form, f"no form on {url}"
        hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
        data = urllib.parse.urlencode({**hidden, **(fields or {})}).encode()
        target = urllib.parse.urljoin(url, html.unescape(form.group(1)))
        return self._open(urllib.request.Request(target, data=data, method="POST"))

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=20) as resp:
                return int(resp.status), resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")


# ---------------------------------------------------------------------- the relay


@dataclass
class Received:
    """One message as the relay received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The parsed message."""
        return parse(self.data)


class _Keep:
    def __init__(self, inbox: list[Received]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        self.inbox.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(content)))
        return "250 OK kept"


@contextmanager
def counting_relay(port: int) -> Iterator[list[Received]]:
    """A real SMTP server (aiosmtpd) that accepts and keeps every message, in order."""
    from aiosmtpd.controller import Controller

    inbox: list[Received] = []
    controller = Controller(
        _Keep(inbox),
        hostname="127.0.0.1",
        port=port,
        enable_SMTPUTF8=True,
        data_size_limit=50 * 1024 * 1024,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def wait_for(inbox: list[Received], count: int, timeout: float = FINISH_TIMEOUT) -> None:
    """Wait until the relay holds at least ``count`` messages."""
    deadline = time.monotonic() + timeout
    while len(inbox) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"the relay got {len(inbox)} messages, expected {count}")
        time.sleep(0.2)


def addressed_to(inbox: list[Received], address: str) -> list[Received]:
    """The messages whose envelope names ``address``."""
    return [r for r in inbox if address in r.rcpt_tos]


def workbook(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> Path:
    """An XLSX file as Excel writes it: a header row, then ``rows``."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


@contextmanager
def own_redis(directory: Path) -> Iterator[str]:
    """A Redis of this test's own (the bundled one), so that no other installation on this
    machine's shared Redis takes this test's queued work (one Redis per installation)."""
    from service.embedded_redis import start_bundled_redis

    proc, url = start_bundled_redis(directory)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
