"""REST API v1 under ``/api/v1/``: bearer tokens, cursor pages, JSON errors, OpenAPI.

Each resource module registers its operations with ``registry.operation``, which builds
both the Flask route and its OpenAPI entry; ``/api/v1/openapi.json`` and ``/api/v1/docs``
are generated from that registry. CSRF does not apply (no cookies: bearer tokens).
"""

from __future__ import annotations

from flask import Blueprint
from werkzeug.exceptions import HTTPException

from service.web.api import (
    campaign_actions,
    campaign_results,
    campaigns,
    events,
    imports,
    issues,
    lists,
    meta,
    organisations,
    segments,
    subscribers,
    suppressions,
)
from service.web.api.errors import (
    ApiError,
    handle_api_error,
    handle_http_error,
    handle_unexpected,
)
from service.web.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

bp.register_error_handler(ApiError, handle_api_error)
bp.register_error_handler(HTTPException, handle_http_error)
bp.register_error_handler(Exception, handle_unexpected)

# Order matters only for the catch-all, registered last by ``meta``.
for _module in (
    lists,
    subscribers,
    organisations,
    segments,
    imports,
    suppressions,
    issues,
    campaigns,
    campaign_actions,
    campaign_results,
    events,
    meta,
):
    _module.register(bp)

__all__ = ["bp"]
