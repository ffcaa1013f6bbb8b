"""What every command shares: the settings (a bad variable is a clear error), the
``--json`` option and its single JSON object, and a database session per command."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy.orm import Session

from service.config import ConfigError, Settings, load_settings

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def settings() -> Settings:
    """The configuration, or a click error naming the bad variable."""
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from exc


def startup_settings() -> Settings:
    """``settings()`` for a long-running part (``up``, ``web``, ``worker``, ``beat``),
    which also refuses what is read only later, while sending: a ``TIDINGS_PROVIDER_LIMITS``
    the sender cannot read would otherwise be ignored there without a word."""
    from service.mail.sending_config import env_provider_limits

    loaded = settings()
    try:
        env_provider_limits(loaded)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from exc
    return loaded


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    """Print ``payload`` as one JSON object with ``--json``, else ``text``."""
    click.echo(json.dumps(payload, ensure_ascii=False, default=str) if as_json else text)


def fail(exc: Exception) -> click.ClickException:
    """A domain error as the command's error message (exit status 1)."""
    return click.ClickException(str(exc))


@contextmanager
def session() -> Iterator[tuple[Session, Settings]]:
    """A session (the command commits what it means to keep) and the settings."""
    from service.db import Database

    config = settings()
    database = Database(config.database_url)
    try:
        with database.session() as opened:
            yield opened, config
    finally:
        database.dispose()


def with_session(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(session, *args)`` in one transaction: committed on return, rolled back on error."""
    from service.db import Database

    database = Database(settings().database_url)
    try:
        with database.transaction() as opened:
            return fn(opened, *args)
    finally:
        database.dispose()
