"""Who may read what the service says about its own parts (health details, metrics):
the machine itself, and whoever holds the ``TIDINGS_METRICS_TOKEN`` bearer token."""

from __future__ import annotations

import hmac

from flask import request

from service.web.context import settings

LOOPBACK = ("127.0.0.1", "::1")
# A reverse proxy on this host connects from loopback too; these say it relayed someone.
PROXY_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Real-IP",
)


def from_this_machine() -> bool:
    """Whether the request comes from this machine itself, not relayed by a proxy."""
    if request.remote_addr not in LOOPBACK:
        return False
    return not any(name in request.headers for name in PROXY_HEADERS)


def has_metrics_token() -> bool:
    """Whether the request carries the configured metrics bearer token (False when none
    is configured)."""
    expected = settings().metrics_token
    if expected is None:
        return False
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    # Constant-time, and on bytes: compare_digest refuses a str with non-ASCII characters.
    given = token.strip().encode("utf-8", "surrogateescape")
    return scheme.lower() == "bearer" and hmac.compare_digest(given, expected.encode())
