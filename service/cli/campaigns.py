"""Command-line commands for campaigns (`tidings campaign ...`, DESIGN §7).

Thin: parse arguments, call the campaigns domain, print (``--json``: one JSON object).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.orm import Session

from service.cli.common import emit, fail, json_option
from service.cli.common import session as session_for

if TYPE_CHECKING:
    from service.campaigns.preflight_result import Preflight


def _queue_materialize(campaign_id: int) -> None:
    """Ask a worker to make the delivery rows now (``engine.start_and_prepare``)."""
    from worker.tasks_send import materialize

    materialize.apply_async(args=[campaign_id], retry=False)


def register(main: click.Group) -> None:
    """Add this domain's commands to the ``tidings`` group."""
    main.add_command(campaign)


@click.group()
def campaign() -> None:
    """Campaigns: send an issue to lists, exactly once per recipient."""


@campaign.command("add")
@click.option("--issue", "issue_id", type=int, help="Issue id (see 'tidings issue import').")
@click.option(
    "--html",
    "html_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A plain HTML body instead of an issue.",
)
@click.option("--list", "lists", multiple=True, required=True, help="List slug; repeat for more.")
@click.option(
    "--segment",
    "segment_id",
    type=int,
    default=None,
    help="Send only to the lists' members who match this segment (see 'tidings segment "
    "list'), judged when sending starts.",
)
@click.option("--subject", default=None, help="Default: the issue's title and number.")
@click.option("--preheader", default="")
@click.option("--from-name", default=None, help="Default: the name in TIDINGS_FROM.")
@click.option("--from-addr", default=None, help="Default: the address in TIDINGS_FROM.")
@click.option("--reply-to", default=None)
@click.option("--no-tracking", is_flag=True, help="No open pixel, no click redirects.")
@click.option(
    "--mode", type=click.Choice(["auto", "full", "excerpt"]), default="auto", show_default=True
)
@click.option(
    "--at",
    "at",
    default=None,
    help="Schedule, e.g. 2026-12-01T09:00 (configured zone unless an offset is given).",
)
@json_option
def add(
    issue_id: int | None,
    html_file: Path | None,
    lists: tuple[str, ...],
    segment_id: int | None,
    subject: str | None,
    preheader: str,
    from_name: str | None,
    from_addr: str | None,
    reply_to: str | None,
    no_tracking: bool,
    mode: str,
    at: str | None,
    as_json: bool,
) -> None:
    """Create a campaign (prints its id)."""
    from service.campaigns.drafts import create_campaign
    from service.campaigns.service import CampaignError, parse_local_time, schedule

    with session_for() as (session, settings):
        try:
            new = create_campaign(
                session,
                settings,
                lists=list(lists),
                issue_id=issue_id,
                body_html=html_file.read_text(encoding="utf-8") if html_file else None,
                subject=subject,
                preheader=preheader,
                from_name=from_name,
                from_addr=from_addr,
                reply_to=reply_to,
                tracking=not no_tracking,
                content_mode=mode,
                segment_id=segment_id,
            )
            if at:
                schedule(session, new.id, parse_local_time(at, settings.zone))
            session.commit()
        except CampaignError as exc:
            raise fail(exc) from exc
        status = "scheduled" if at else "draft"
        emit(as_json, {"id": new.id, "status": status}, str(new.id))


def _action(fn: Callable[[Session, int], Any], verb: str) -> Callable[[int, bool], None]:
    def run(campaign_id: int, as_json: bool) -> None:
        from service.campaigns.service import TransitionError

        with session_for() as (session, _settings_):
            try:
                fn(session, campaign_id)
                session.commit()
            except TransitionError as exc:
                raise fail(exc) from exc
        emit(as_json, {"id": campaign_id, "ok": True}, f"campaign {campaign_id} {verb}")

    return run


def _check_lines(result: Preflight) -> str:
    """The checks one a line: ``ok``, ``ERROR`` or ``warning``, the name, the detail."""
    return "\n".join(
        f"{'ok' if c.ok else c.level.upper() if c.level == 'error' else c.level:7} "
        f"{c.name}: {c.detail.text}"
        for c in result.checks
    )


@campaign.command("check")
@click.argument("campaign_id", type=int)
@json_option
def check_cmd(campaign_id: int, as_json: bool) -> None:
    """Preflight: check the message a recipient would get (links, DNS, DKIM, size).

    Exit status 1 when a check failed that blocks sending."""
    from service.campaigns.preflight import run_preflight
    from service.campaigns.service import TransitionError

    with session_for() as (session, settings):
        try:
            result = run_preflight(session, settings, campaign_id)
        except TransitionError as exc:
            raise fail(exc) from exc
    emit(as_json, result.as_dict(), _check_lines(result))
    if not result.ok:
        raise SystemExit(1)


@campaign.command("start")
@click.argument("campaign_id", type=int)
@click.option("--force", is_flag=True, help="Start even when a preflight check fails.")
@json_option
def start_cmd(campaign_id: int, force: bool, as_json: bool) -> None:
    """Start sending now (compiles the content, then workers send).

    The preflight (``campaign check``) runs first: a failed error refuses unless
    ``--force``; warnings are printed (with ``--json``, their names under ``warnings``)."""
    from service.campaigns.content import ContentError
    from service.campaigns.engine import start_and_prepare
    from service.campaigns.preflight import run_preflight
    from service.campaigns.preflight_result import refusal
    from service.campaigns.service import TransitionError
    from service.mail.from_address import UnsendableFrom

    with session_for() as (session, settings):
        try:
            checked = run_preflight(session, settings, campaign_id)
            refused = refusal(checked, acknowledged=True)
            if refused is not None and not force:
                raise fail(refused)
            error = start_and_prepare(session, settings, campaign_id, _queue_materialize)
        except (TransitionError, ContentError, UnsendableFrom) as exc:
            raise fail(exc) from exc
    warned = [c.name for c in checked.warnings + (checked.errors if force else [])]
    note = (
        "a worker is preparing the recipients"
        if error is None
        else f"could not reach the queue ({error}); the beat job will prepare it"
    )
    emit(
        as_json,
        {"id": campaign_id, "ok": True, "note": note, "warnings": warned},
        f"campaign {campaign_id} started; {note}"
        + (f" (preflight warnings: {', '.join(warned)})" if warned else ""),
    )


@campaign.command("pause")
@click.argument("campaign_id", type=int)
@json_option
def pause_cmd(campaign_id: int, as_json: bool) -> None:
    """Pause: workers stop within one batch."""
    from service.campaigns.service import PAUSED_FROM_CLI, pause

    _action(lambda s, i: pause(s, i, PAUSED_FROM_CLI), "paused")(campaign_id, as_json)


@campaign.command("resume")
@click.argument("campaign_id", type=int)
@json_option
def resume_cmd(campaign_id: int, as_json: bool) -> None:
    """Resume a paused campaign."""
    from service.campaigns.service import resume

    _action(resume, "resumed")(campaign_id, as_json)


@campaign.command("cancel")
@click.argument("campaign_id", type=int)
@json_option
def cancel_cmd(campaign_id: int, as_json: bool) -> None:
    """Cancel for good: rows not sent yet are skipped."""
    from service.campaigns.service import cancel

    _action(cancel, "cancelled")(campaign_id, as_json)


@campaign.command("resend-unknown")
@click.argument("campaign_id", type=int)
@json_option
def resend_unknown_cmd(campaign_id: int, as_json: bool) -> None:
    """Send again the rows whose outcome is unknown (a worker died while sending them)."""
    from service.campaigns.service import TransitionError, resend_unknown

    with session_for() as (session, _s):
        try:
            count = resend_unknown(session, campaign_id)
        except TransitionError as exc:  # e.g. cancelled: nothing would ever send them
            raise fail(exc) from exc
        session.commit()
    emit(
        as_json,
        {"id": campaign_id, "requeued": count},
        f"{count} rows will be sent again (with the same Message-ID as before)",
    )


@campaign.command("show")
@click.argument("campaign_id", type=int)
@json_option
def show(campaign_id: int, as_json: bool) -> None:
    """Status and progress counters."""
    from service.campaigns.progress import progress

    with session_for() as (session, _s):
        try:
            data = progress(session, campaign_id)
        except LookupError as exc:
            raise fail(exc) from exc
    from service.cli.events import attention_line

    text = "\n".join(
        attention_line(v) if k == "needs_attention" else f"{k}: {v}" for k, v in data.items()
    )
    emit(as_json, data, text)


@campaign.command("render")
@click.argument("campaign_id", type=int)
@click.option("--email", required=True, help="The subscriber whose message to render.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@json_option
def render(campaign_id: int, email: str, out: Path, as_json: bool) -> None:
    """Write the exact bytes that subscriber would be sent to FILE.eml."""
    from service.campaigns.content import ContentError
    from service.campaigns.previews import render_message
    from service.mail.addresses import InvalidAddress

    with session_for() as (session, settings):
        try:
            data = render_message(session, settings, campaign_id, email)
        except (LookupError, InvalidAddress, ContentError) as exc:
            raise fail(exc) from exc
    out.write_bytes(data)
    emit(
        as_json,
        {"id": campaign_id, "out": str(out), "bytes": len(data)},
        f"{len(data)} bytes written to {out}",
    )


@campaign.command("test")
@click.argument("campaign_id", type=int)
@click.option("--to", "to", multiple=True, required=True, help="Address; repeat for more.")
@click.option(
    "--as", "as_subscriber", default=None, help="Render it as this subscriber (by address)."
)
@json_option
def test_cmd(
    campaign_id: int, to: tuple[str, ...], as_subscriber: str | None, as_json: bool
) -> None:
    """Send a test (subject prefixed, not counted in reports) through the real relay;
    with --as, personalised for that subscriber but still sent to --to only."""
    from service.campaigns.content import ContentError
    from service.campaigns.previews import send_test
    from service.mail.from_address import UnsendableFrom

    with session_for() as (session, settings):
        try:
            results = send_test(
                session, settings, campaign_id, list(to), as_subscriber=as_subscriber
            )
            lines = [r.line for r in results]
        except (LookupError, ContentError, UnsendableFrom) as exc:
            raise fail(exc) from exc
    emit(as_json, {"id": campaign_id, "results": lines}, "\n".join(lines))


@campaign.command("tick")
@json_option
def tick_cmd(as_json: bool) -> None:
    """Run the sending beat jobs once (due, materialize, sweep, dispatch, finalize)."""
    from service.campaigns.engine import tick
    from worker.tasks_send import enqueue_batch

    with session_for() as (session, settings):
        result = tick(session, settings, enqueue_batch)
    emit(as_json, result.__dict__, json.dumps(result.__dict__))
