"""Command-line commands for events and reports.

- ``tidings bounces --host --port``: the inbound bounce SMTP listener;
- ``tidings report campaign ID [--json]``: a campaign's figures (DESIGN §7 keys);
- `campaign_report_command`: the same as a plain ``click.Command`` named ``report``, for
  the sending engineer to add to the ``campaign`` group (``tidings campaign report ID``).
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import click

from service.cli.common import settings as load_settings

DEFAULT_BOUNCE_PORT = 2525
# Recipient domains a plain-text report lists (the biggest; ``--json`` has all).
DOMAINS_PRINTED = 20


def enqueue_bounce(path: Path) -> None:
    """Announce a stored message to the ``events`` queue."""
    from worker.tasks_events import process_bounce

    process_bounce.delay(path.name)


@click.command("bounces")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_BOUNCE_PORT, show_default=True, help="SMTP port.")
def bounces_command(host: str, port: int) -> None:
    """Run the inbound bounce SMTP server for the VERP bounce domain."""
    from service.events.bounce_server import start_bounce_server

    settings = load_settings()
    controller = start_bounce_server(settings, enqueue_bounce, host, port)
    click.echo(f"bounce server for @{settings.bounce_domain} listening on {host}:{port}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()


def attention_line(value: object) -> str:
    """``needs_attention`` as one line of a plain-text report."""
    if not isinstance(value, dict):
        return "needs attention: no"
    return f"needs attention: {value['unknown']:,} unknown. {value['what_to_do']}."


def _print_report(campaign_id: int, as_json: bool) -> None:
    from service.db import Database
    from service.reports.queries import campaign_report

    database = Database(load_settings().database_url)
    try:
        with database.session() as session:
            report = campaign_report(session, campaign_id)
    finally:
        database.dispose()
    if report is None:
        raise click.ClickException(f"no campaign {campaign_id}")
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    for key, value in report.items():
        if key == "links":
            click.echo(f"links: {len(value)}")
            for link in value:
                click.echo(
                    f"  {link['clicks_unique']:>8,} {link['clicks_total']:>8,}  {link['url']}"
                )
        elif key == "needs_attention":
            click.echo(attention_line(value))
        elif key == "organisations":
            _print_organisations(value)
        elif key == "domains":
            _print_domains(value)
        elif key == "machine_opens_by_reason":
            for reason, count in value.items():
                click.echo(f"  machine opens, {reason}: {count:,}")
        elif key == "rates":
            for name, rate in value.items():
                click.echo(
                    f"{name}: {rate:.2%}" if isinstance(rate, float) else f"{name}: {rate:,}"
                )
        else:
            click.echo(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")


def _print_organisations(value: dict[str, Any]) -> None:
    """The organisations of a plain-text report: reached of total, then each unreached
    one with its reason code (``service.reports.coverage.REASONS``)."""
    click.echo(f"organisations reached: {value['reached']:,} of {value['total']:,}")
    for org in value["unreached"]:
        click.echo(f"  not reached: {org['name']} ({org['reason']})")


def _print_domains(rows: list[dict[str, Any]]) -> None:
    """The biggest recipient domains of a plain-text report (``--json`` has them all)."""
    from service.reports.domains import COUNTS

    click.echo(f"domains: {len(rows):,} (recipients sent deferred hard soft complaints opens)")
    for row in rows[:DOMAINS_PRINTED]:
        figures = " ".join(f"{row[k]:>7,}" for k in COUNTS)
        click.echo(f"  {figures}  {row['domain']} ({row['provider']})")
    if len(rows) > DOMAINS_PRINTED:
        click.echo(f"  … {len(rows) - DOMAINS_PRINTED:,} more (see --json)")


@click.command("report")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def campaign_report_command(campaign_id: int, as_json: bool) -> None:
    """A campaign's delivery report (recipients, bounces, opens, clicks, ...)."""
    _print_report(campaign_id, as_json)


@click.group("report")
def report_group() -> None:
    """Delivery reports."""


@report_group.command("campaign")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def report_campaign(campaign_id: int, as_json: bool) -> None:
    """A campaign's delivery report (same as ``tidings campaign report``)."""
    _print_report(campaign_id, as_json)


def _update_setting(key: str, change: Any) -> Any:
    """Apply ``change(current) -> new`` to a settings-store value; return the new value."""
    from service.accounts.settings_store import get_setting, set_setting
    from service.db import Database

    database = Database(load_settings().database_url)
    try:
        with database.transaction() as session:
            value = change(get_setting(session, key))
            if value is not None:
                set_setting(session, key, value)
            return value if value is not None else get_setting(session, key)
    finally:
        database.dispose()


@click.group("webhook")
def webhook_group() -> None:
    """Provider webhook secrets (POST /webhooks/<provider>)."""


@webhook_group.command("set")
@click.argument("provider", type=click.Choice(["ses", "sendgrid", "mailgun", "postmark"]))
@click.option("--topic-arn", "topic_arns", multiple=True, help="SES: allowed SNS topic (repeat).")
@click.option("--public-key", help="SendGrid: the verification key (base64 DER or PEM).")
@click.option("--signing-key", help="Mailgun: the HTTP webhook signing key.")
@click.option("--username", help="Postmark: basic-auth user in the webhook URL.")
@click.option("--password", help="Postmark: basic-auth password.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def webhook_set(provider: str, as_json: bool, **fields: Any) -> None:
    """Configure one provider; secrets are shown back masked."""
    from service.events.webhooks import SETTINGS_KEY, masked

    given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in fields.items() if v}

    def change(current: Any) -> dict[str, Any]:
        value = dict(current or {})
        value[provider] = {**(value.get(provider) or {}), **given}
        return value

    shown = masked(_update_setting(SETTINGS_KEY, change))[provider]
    click.echo(json.dumps(shown, ensure_ascii=False) if as_json else f"{provider}: {shown}")


@webhook_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def webhook_show(as_json: bool) -> None:
    """The webhook configuration, secrets masked."""
    from service.events.webhooks import SETTINGS_KEY, masked

    shown = masked(_update_setting(SETTINGS_KEY, lambda _current: None))
    click.echo(json.dumps(shown, ensure_ascii=False) if as_json else str(shown))


@click.command("bounce-mailbox")
@click.option("--host", help="IMAP server.")
@click.option("--port", type=int, help="IMAP port (993 with SSL, 143 without).")
@click.option("--ssl/--no-ssl", default=None, help="Implicit TLS (default on).")
@click.option("--user", help="Login.")
@click.option("--password", help="Password (never shown back).")
@click.option("--folder", help="Folder to read (default INBOX).")
@click.option("--processed-folder", help="Where processed mail goes (default Tidings/Processed).")
@click.option("--enable/--disable", default=None, help="Turn polling on or off.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bounce_mailbox_command(as_json: bool, **fields: Any) -> None:
    """Configure the IMAP bounce mailbox polled by beat; without options, show it and
    how its last poll went."""
    from service.events.mailbox import SETTINGS_KEY, STATUS_KEY, masked_config

    given = {k: v for k, v in fields.items() if v is not None}
    if "enable" in given:
        given["enabled"] = given.pop("enable")

    def change(current: Any) -> dict[str, Any] | None:
        return {**(current or {}), **given} if given else None

    shown = masked_config(_update_setting(SETTINGS_KEY, change))
    # What the poller last did (or why it could not log in), as it recorded it.
    shown["last_poll"] = _update_setting(STATUS_KEY, lambda _current: None)
    click.echo(json.dumps(shown, ensure_ascii=False) if as_json else str(shown))


def register(main: click.Group) -> None:
    """Add this domain's commands to the ``tidings`` group."""
    main.add_command(bounces_command)
    main.add_command(report_group)
    main.add_command(webhook_group)
    main.add_command(bounce_mailbox_command)
    campaign = main.commands.get("campaign")
    if isinstance(campaign, click.Group) and "report" not in campaign.commands:
        campaign.add_command(campaign_report_command)
