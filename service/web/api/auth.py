"""Bearer-token authentication: hashed lookup, revocation, expiry, scopes and the user's
role."""

from __future__ import annotations

from datetime import timedelta

from flask import g, request
from sqlalchemy import select, update

from service.accounts.users import hash_token
from service.model import ApiToken, User, utcnow
from service.web.api.errors import ApiError
from service.web.context import db_session
from service.web.roles import RANK

# ``last_used_at`` is written at most this often per token: enough to show "last used"
# in the admin, without a database write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
BEARER = "bearer"


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


def _bearer_secret() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != BEARER or not secret.strip():
        raise _unauthorized("send Authorization: Bearer <token>")
    return secret.strip()


def _touch(token: ApiToken) -> None:
    now = utcnow()
    last = token.last_used_at
    if last is not None and now - last < LAST_USED_RESOLUTION:
        return
    session = db_session()
    session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    session.commit()


def authenticate(scope: str, minimum_role: str) -> User:
    """The user behind the request's bearer token, if it may do ``scope`` with at least
    ``minimum_role``; ``ApiError`` 401 (no/bad/revoked/expired token) or 403 (scope: a
    read-only token on anything but GET; role)."""
    secret = _bearer_secret()
    session = db_session()
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(secret))
    ).first()
    if row is None:
        raise _unauthorized("the token is not valid")
    token, user = row
    if token.revoked_at is not None:
        raise _unauthorized("the token was revoked")
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise ApiError(
            401,
            "token_expired",
            f"the token expired at {token.expires_at:%Y-%m-%d %H:%M} UTC; make a new one "
            "(tidings token add, or My account > API tokens)",
        )
    if not user.active:
        raise _unauthorized("the token's user is deactivated")
    _touch(token)
    if scope not in (token.scopes or "").split():
        raise ApiError(403, "insufficient_scope", f"the token lacks the {scope!r} scope")
    if RANK.get(user.role, 0) < RANK[minimum_role]:
        raise ApiError(
            403,
            "forbidden_role",
            f"this needs the {minimum_role} role; the token's user is {user.role}",
        )
    g.api_user_id = user.id
    g.api_user_role = user.role
    g.api_token_id = token.id
    return user


def api_user_id() -> int | None:
    """The id of the authenticated user (for the audit log)."""
    value = g.get("api_user_id")
    return int(value) if value is not None else None


def api_user_role() -> str | None:
    """The role of the authenticated user (for a check finer than the operation's)."""
    value = g.get("api_user_role")
    return str(value) if value is not None else None
