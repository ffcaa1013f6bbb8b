"""``GET /metrics`` for Prometheus, optionally behind a bearer token."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from service.ops.metrics import exposition
from service.web.context import db_session, settings
from service.web.extensions import csrf
from service.web.insiders import from_this_machine, has_metrics_token

bp = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _authorised() -> bool:
    if settings().metrics_token is None:
        # No token configured: only a scraper on this machine may read the figures (they
        # say how many people a campaign reached; not for the open internet).
        return from_this_machine()
    return has_metrics_token()


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
