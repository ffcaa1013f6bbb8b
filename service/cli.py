"""The ``tidings`` command (DESIGN §7). Commands are thin: they parse arguments and call
service functions; ``--json`` prints one JSON object."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from service.config import ConfigError, Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from exc


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False) if as_json else text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tidings: self-hosted newsletter distribution."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Web server address.")
@click.option("--port", default=8000, show_default=True, help="Web server port.")
@click.option("--no-demo", is_flag=True, help="Do not load the demo on an empty database.")
def up(host: str, port: int, no_demo: bool) -> None:
    """Run the whole service on this machine: web, worker, beat, Redis and SMTP capture."""
    from service.supervisor import run_up

    sys.exit(run_up(_settings(), host=host, port=port, load_demo_data=not no_demo))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, help="Threads per worker.")
def web(host: str, port: int, workers: int, threads: int) -> None:
    """Run the web server (gunicorn)."""
    settings = _settings()  # fail early, with the variable's name, before gunicorn starts
    from gunicorn.app.wsgiapp import run

    from service.supervisor import SUPERVISOR_PID_VARIABLE, follow_supervisor

    follow_supervisor()
    if not settings.base_url_explicit and not os.environ.get(SUPERVISOR_PID_VARIABLE):
        _follow_served_port(settings, host, port)
    sys.argv = [
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "10",
        "service.wsgi:app",
    ]
    run()


def _follow_served_port(settings: Settings, host: str, port: int) -> None:
    """With TIDINGS_BASE_URL unset, links in mail point at the port this web serves: the
    app (loaded by gunicorn after this) reads it from the environment, commands in other
    shells and the worker from the runtime record (``service.runtime``)."""
    import atexit

    from service import runtime

    base_url = runtime.served_base_url(host, port)
    os.environ["TIDINGS_BASE_URL"] = base_url
    runtime.publish(settings.data_dir, **{runtime.BASE_URL: base_url})
    atexit.register(runtime.withdraw, settings.data_dir)
    click.echo(f"Public URL: {base_url} (links in mail; set TIDINGS_BASE_URL to change it)")


@main.command()
@click.option(
    "--concurrency",
    "-c",
    default=None,
    type=int,
    help="Worker processes (default: number of CPU cores).",
)
@click.option("--queues", "-Q", default="send,events,default", show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int | None, queues: str, loglevel: str) -> None:
    """Run a Celery worker. Start as many as you like, on any machine."""
    _settings()
    from worker.app import celery

    argv = [
        "worker",
        "--queues",
        queues,
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    celery.worker_main(argv)


@main.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run the periodic scheduler. Run exactly one in a deployment."""
    settings = _settings()
    from service.supervisor import follow_supervisor
    from worker.app import celery

    follow_supervisor()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery.start(
        [
            "beat",
            "--loglevel",
            loglevel,
            "--schedule",
            str(settings.data_dir / "celerybeat-schedule"),
        ]
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Apply every migration not yet applied."""
    from service.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    _emit(as_json, {"ok": True}, "database is up to date")


def _with_session(fn: Callable[..., Any], *args: Any) -> Any:
    from service.db import Database

    database = Database(_settings().database_url)
    try:
        with database.transaction() as session:
            return fn(session, *args)
    finally:
        database.dispose()


@main.command()
@json_option
def demo(as_json: bool) -> None:
    """Load the demo issue, the demo list and a few subscribers."""
    from service.demo import load_demo

    result = _with_session(load_demo)
    _emit(
        as_json,
        result.__dict__,
        f"demo issue {result.issue_id}, list {result.list_id}, "
        f"{result.subscribers_added} subscribers added",
    )


@main.group()
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
        new = _with_session(create_user, email, password, role)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    _emit(
        as_json,
        {"id": new.id, "email": new.email, "role": new.role},
        f"user {new.email} ({new.role}) added",
    )


@main.group()
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

    new = _with_session(make)
    _emit(as_json, {"id": new.token.id, "token": new.secret}, new.secret)


def _register_domain_commands() -> None:
    # Each domain adds its own commands in service/<domain>/cli.py (``register(main)``).
    import importlib

    for module in DOMAIN_CLI_MODULES:
        importlib.import_module(module).register(main)


DOMAIN_CLI_MODULES = (
    "service.subscribers.cli",
    "service.issues.cli",
    "service.campaigns.cli",
    "service.events.cli",
)
_register_domain_commands()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
