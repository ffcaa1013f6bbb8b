"""``GET /metrics`` for Prometheus, optionally behind a bearer token."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, request

from service.ops.metrics import exposition
from service.web.context import db_session, settings
from service.web.extensions import csrf

bp = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOOPBACK = ("127.0.0.1", "::1")


def _authorised() -> bool:
    expected = settings().metrics_token
    if expected is None:
        # No token configured: only a scraper on this machine may read the figures (they
        # say how many people a campaign reached; not for the open internet).
        return request.remote_addr in LOOPBACK
    given = request.headers.get("Authorization", "")
    scheme, _sep, token = given.partition(" ")
    # Constant-time comparison: the token must not leak through response timing.
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), expected)


@bp.route("/metrics")
@csrf.exempt
def metrics() -> Any:
    """Delivery, queue, send-rate, event-intake and worker figures, text format."""
    if not _authorised():
        return Response(
            "a bearer token is needed (set TIDINGS_METRICS_TOKEN), or scrape from this machine\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            content_type="text/plain",
        )
    body = exposition(db_session(), settings().redis_url)
    return Response(body, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
