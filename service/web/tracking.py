"""Open pixel and click redirect (public, no login, no CSRF: plain GETs from mail).

Both answer from memory plus one Redis RPUSH (the click also reads its stored URL); the
database write happens later in batches (``service.events.tracking``). Clicks go the
same way as opens: the redirect must be fast, and one pipeline for both keeps the
machine/scanner flags and the replay-proof ids in one place. If Redis is down the hit
is written straight to the database instead, so it is not lost.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, Response, abort, redirect, request

from service import tokens
from service.events.tracking import PIXEL_GIF, Hit, insert_hits, new_hit, push_hit, redis_for
from service.events.tracking import click_target as stored_url
from service.web.context import db_session, settings

bp = Blueprint("tracking", __name__)
log = logging.getLogger(__name__)

PIXEL_HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(PIXEL_GIF))),
    ("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0"),
    ("Pragma", "no-cache"),
    ("X-Content-Type-Options", "nosniff"),
]


class PixelFastPath:
    """WSGI middleware answering ``GET /o/<token>`` before Flask is involved.

    The pixel is the hottest URL (every open of every message); the full Flask stack
    (sessions, locale, login, after-request hooks) costs about ten times the HMAC check and
    the Redis RPUSH, which are all it needs. Anything unusual (Redis down, another
    method) falls through to the ordinary Flask view below, which behaves the same.
    """

    def __init__(self, wsgi_app: Any, secret: str, redis_url: str) -> None:
        self.wsgi_app = wsgi_app
        self.secret = secret
        self.redis_url = redis_url

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/o/") or environ.get("REQUEST_METHOD") != "GET":
            return self.wsgi_app(environ, start_response)
        token = path[3:]
        ids = tokens.read_token(self.secret, tokens.OPEN, token, 1) if "/" not in token else None
        if ids is not None:
            hit = new_hit("open", ids[0], None, environ.get("HTTP_USER_AGENT", ""))
            try:
                push_hit(redis_for(self.redis_url), hit)
            except redis.RedisError:
                return self.wsgi_app(environ, start_response)  # the view writes to the DB
        start_response("200 OK", list(PIXEL_HEADERS))
        return [PIXEL_GIF]


@bp.record_once
def _install_fast_path(state: Any) -> None:
    app = state.app
    config = app.config["TIDINGS"]
    app.wsgi_app = PixelFastPath(app.wsgi_app, config.secret_key, config.redis_url)


def _record(hit: Hit) -> None:
    try:
        push_hit(redis_for(settings().redis_url), hit)
    except redis.RedisError:
        log.warning("tracking: Redis unavailable, writing a %s directly", hit.kind)
        session = db_session()
        insert_hits(session, [hit])
        session.commit()


@bp.route("/o/<token>")
def open_pixel(token: str) -> Any:
    """A transparent GIF; a valid token records an open (a forged one records nothing)."""
    ids = tokens.read_token(settings().secret_key, tokens.OPEN, token, 1)
    if ids is not None:
        _record(new_hit("open", ids[0], None, request.headers.get("User-Agent", "")))
    response = Response(PIXEL_GIF, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.route("/c/<token>")
def click(token: str) -> Any:
    """302 to the URL stored for this link at render time; 404 for anything unknown."""
    ids = tokens.read_token(settings().secret_key, tokens.CLICK, token, 2)
    if ids is None:
        abort(404)
    delivery_id, position = ids
    url = stored_url(db_session(), delivery_id, position)
    if url is None or not url.lower().startswith(("http://", "https://")):
        abort(404)
    _record(new_hit("click", delivery_id, position, request.headers.get("User-Agent", "")))
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response
