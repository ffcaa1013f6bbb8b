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
@json_option
def token_add(email: str, name: str, as_json: bool) -> None:
    """Create an API token for a user and print it (shown once)."""
    from service.accounts.users import create_api_token, user_by_email

    def make(session: Any) -> Any:
        account = user_by_email(session, email)
        if account is None:
            raise click.ClickException(f"no user {email}; add one with 'tidings user add'")
        return create_api_token(session, account, name=name)

    new = with_session(make)
    emit(as_json, {"id": new.token.id, "token": new.secret}, new.secret)
