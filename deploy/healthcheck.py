"""Container health probe for compose.yaml (the slim image has no curl).

    python /app/deploy/healthcheck.py http://127.0.0.1:8000/healthz   # web
    python /app/deploy/healthcheck.py smtp://127.0.0.1:2525           # bounce listener

Exit status 0 means healthy, 1 unhealthy; one line on stdout says why (``docker inspect``
shows it). Standard library only, so it runs before and without the app's imports.
"""

from __future__ import annotations

import json
import smtplib
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0
# The web container is healthy when it answers and reaches what it needs itself. The
# worker, beat and SMTP relay checks in the same /healthz body describe other
# containers: a stopped worker must not mark the web container unhealthy (the dashboard
# and /healthz's 503 still report it).
WEB_REQUIRED_CHECKS = ("database", "redis")


def web_verdict(body: Mapping[str, object]) -> tuple[bool, str]:
    """Whether a ``/healthz`` body (200 or 503) shows the web container itself healthy."""
    checks = body.get("checks")
    if not isinstance(checks, dict):
        return False, "the /healthz body has no checks"
    failed = [
        name
        for name in WEB_REQUIRED_CHECKS
        if not (isinstance(checks.get(name), dict) and checks[name].get("ok") is True)
    ]
    if failed:
        return False, "failing: " + ", ".join(failed)
    return True, f"web answers; overall status {body.get('status')!r}"


def probe_http(url: str) -> tuple[bool, str]:
    """GET ``url`` (the ``/healthz`` endpoint) and judge the JSON body."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:  # 503 still carries the checks
        raw = exc.read()
    except OSError as exc:
        return False, f"{url}: {exc}"
    try:
        body = json.loads(raw)
    except ValueError:
        return False, f"{url} did not answer JSON"
    return web_verdict(body) if isinstance(body, dict) else (False, "not a JSON object")


def probe_smtp(url: str) -> tuple[bool, str]:
    """Connect to an SMTP listener and expect a 2xx answer to EHLO."""
    parts = urlsplit(url)
    try:
        with smtplib.SMTP(
            parts.hostname or "127.0.0.1", parts.port or 25, timeout=TIMEOUT_SECONDS
        ) as conn:
            code, _ = conn.ehlo()
    except (OSError, smtplib.SMTPException) as exc:
        return False, f"{url}: {exc}"
    return 200 <= code < 300, f"{url} answered EHLO with {code}"


def main(argv: list[str]) -> int:
    """Probe the one URL given; return the process exit status."""
    if len(argv) != 1:
        print("usage: healthcheck.py http://host:port/healthz | smtp://host:port")
        return 2
    url = argv[0]
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        ok, why = probe_http(url)
    elif scheme == "smtp":
        ok, why = probe_smtp(url)
    else:
        print(f"unsupported scheme {scheme!r}")
        return 2
    print(("healthy: " if ok else "unhealthy: ") + why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
