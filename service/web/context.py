"""What a request works with: its database session (made on first use, closed at
teardown), the settings, and the Redis-kept confirmation cap."""

from __future__ import annotations

import hashlib

import redis
from flask import current_app, g
from sqlalchemy.orm import Session

from service.config import Settings
from service.mail.site_settings import effective_settings
from service.subscribers.confirmation_cap import ConfirmationCap
from service.web.app import get_db

# A counter must never hang a public page: Redis gets this long to answer.
REDIS_TIMEOUT_SECONDS = 2.0
_clients: dict[str, redis.Redis] = {}


def db_session() -> Session:
    """The request's session (one per request, opened lazily)."""
    if "db_session" not in g:
        g.db_session = get_db(current_app).session()
    session: Session = g.db_session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    """Roll back anything uncommitted and return the connection to the pool."""
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def settings() -> Settings:
    """The running configuration."""
    value: Settings = current_app.config["TIDINGS"]
    return value


def mail_settings() -> Settings:
    """The configuration mail goes out with: the sender, base URL and DKIM key staff
    stored in the admin laid over the environment (for pages that show what mail says)."""
    return effective_settings(db_session(), settings())


def install_prefix(config: Settings) -> str:
    """The Redis key prefix of this installation. Two installations on one Redis (a
    newcomer's beside a colleague's) keep apart counts: it names this one by a hash of
    its secret key."""
    install = hashlib.sha256(config.secret_key.encode()).hexdigest()[:12]
    return f"tidings:{install}"


def confirmation_cap() -> ConfirmationCap:
    """The hourly cap on confirmation mails, shared by every web process through Redis."""
    config = settings()
    client = _clients.get(config.redis_url)
    if client is None:
        client = redis.Redis.from_url(
            config.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        _clients[config.redis_url] = client
    return ConfirmationCap(client, install_prefix(config))
