"""Setting up an installation: the schema, the demo, staff accounts and API tokens."""

from __future__ import annotations

from typing import Any

import click

from service.cli.common import emit, json_option, with_session
from service.cli.common import settings as load_settings

group = click.Group("admin")


@group.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Apply every migration not yet applied."""
    from service.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    emit(as_json, {"ok": True}, "database is up to date")


@group.command()
@json_option
def demo(as_json: bool) -> None:
    """Load the demo issue, the demo list and a few subscribers."""
    from service.cli.demo import load_demo

    result = with_session(load_demo)
    emit(
        as_json,
        result.__dict__,
        f"demo issue {result.issue_id}, list {result.list_id}, "
        f"{result.subscribers_added} subscribers added",
    )


@group.group()
def user() -> None:
    """Staff accounts."""


@user.command("add")
@click.argument("email")
@click.option(
    "--role", type=click.Choice(["admin", "editor", "viewer"]), default="editor", show_default=True
)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@json_option
def user_add(email: str, role: str, password: str, as_json: bool) -> None:
    """Add a staff member."""
    from service.accounts.users import AccountError, create_user

    try:
        new = with_session(create_user, email, password, role)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    emit(
        as_json,
        {"id": new.id, "email": new.email, "role": new.role},
        f"user {new.email} ({new.role}) added",
    )


@group.group()
def token() -> None:
    """API tokens."""


@token.command("add")
@click.argument("email")
@click.option("--name", default="", help="What the token is for.")
@click.option(
    "--scope",
    type=click.Choice(["read", "send"]),
    default="send",
    show_default=True,
    help="read: GET only; send: read and write (make campaigns, start them, ...).",
)
@click.option(
    "--expires",
    metavar="YYYY-MM-DD",
    default="",
    help="The last day the token works (in TIDINGS_TIMEZONE); without it, until revoked.",
)
@json_option
def token_add(email: str, name: str, scope: str, expires: str, as_json: bool) -> None:
    """Create an API token for a user and print it (shown once)."""
    from service.accounts.users import (
        TOKEN_SCOPES,
        AccountError,
        create_api_token,
        parse_expiry,
        user_by_email,
    )
    from service.ops.staff import scopes_for

    zone = load_settings().zone

    def make(session: Any) -> Any:
        account = user_by_email(session, email)
        if account is None:
            raise click.ClickException(f"no user {email}; add one with 'tidings user add'")
        scopes = scopes_for(account, TOKEN_SCOPES[scope])
        return create_api_token(
            session, account, name=name, scopes=scopes, expires_at=parse_expiry(expires, zone)
        )

    try:
        new = with_session(make)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    payload = {
        "id": new.token.id,
        "token": new.secret,
        "scope": "send" if "write" in new.token.scopes.split() else "read",
        "expires_at": new.token.expires_at.isoformat() if new.token.expires_at else None,
    }
    emit(as_json, payload, new.secret)
