"""Command-line commands for lists and subscribers (``tidings list``, ``tidings subscriber``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from service.cli.common import emit, json_option, with_session

MAX_ERRORS_SHOWN = 50


def register(main: click.Group) -> None:
    """Add this domain's commands to the ``tidings`` group."""
    main.add_command(list_group)
    main.add_command(subscriber_group)


@click.group("list")
def list_group() -> None:
    """Mailing lists."""


@list_group.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The list's name, as readers see it.")
@click.option("--description", default="", help="What the list is for.")
@click.option(
    "--public",
    is_flag=True,
    help="Offer the list on /subscribe and in the embed snippet (lists are private unless "
    "this is given: members come only from imports and staff).",
)
@click.option(
    "--double-opt-in/--single-opt-in",
    default=True,
    show_default=True,
    help="Whether new sign-ups must confirm by email. A public list is double opt-in "
    "unless --reason says why not.",
)
@click.option(
    "--reason",
    default="",
    help="Why a public list is single opt-in (kept in the audit log); required with "
    "--public --single-opt-in.",
)
@json_option
def list_add(
    slug: str,
    name: str,
    description: str,
    public: bool,
    double_opt_in: bool,
    reason: str,
    as_json: bool,
) -> None:
    """Add a mailing list (private unless --public)."""
    from functools import partial

    from service.subscribers.lists import ListError, create_list

    make = partial(create_list, public=public, reason=reason)
    try:
        row = with_session(make, slug, name, description, double_opt_in)
    except ListError as exc:
        if exc.code == "list.override_needs_reason":
            raise click.UsageError(
                "--single-opt-in on a --public list needs --reason: anyone could put any "
                "address on it at once (the reason is kept in the audit log)"
            ) from exc
        raise click.ClickException(str(exc)) from exc
    emit(
        as_json,
        {
            "id": row.id,
            "slug": row.slug,
            "name": row.name,
            "double_opt_in": row.double_opt_in,
            "public": row.public,
        },
        f"list {row.slug} ({row.name}) added, id {row.id}, "
        + ("public" if row.public else "private"),
    )


@click.group("subscriber")
def subscriber_group() -> None:
    """Subscribers."""


@subscriber_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "list_slug", required=True, help="Slug of the list to add people to.")
@click.option(
    "--mode",
    type=click.Choice(["add", "upsert"]),
    default="add",
    show_default=True,
    help="add: only add; upsert: also update the profiles of people already known.",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Override the column mapping (FIELD: email, name, organisation, language, ignore, "
    "or an attribute name). Repeatable.",
)
@json_option
def subscriber_import(
    file: Path, list_slug: str, mode: str, maps: tuple[str, ...], as_json: bool
) -> None:
    """Import subscribers from a CSV (UTF-8 or GBK, any common delimiter) or XLSX file.

    Columns are mapped by their header names (English or Chinese). Imported people are
    active on the list at once, also on a double opt-in list: importing asserts that they
    agreed before. Unsubscribed and suppressed addresses are skipped, never resubscribed.
    """
    from service.subscribers.import_columns import parse_map_options
    from service.subscribers.import_terms import ImportSetupError, ImportTarget
    from service.subscribers.importer import import_file, resolve_list
    from service.subscribers.tabular import FileFormatError

    def work(session: Any) -> Any:
        target_list = resolve_list(session, list_slug)
        target = ImportTarget(target_list.id, mode, file.name)
        return import_file(session, file, target, parse_map_options(maps))

    try:
        report = with_session(work)
    except (ImportSetupError, FileFormatError) as exc:
        raise click.ClickException(f"{file.name}: {exc}") from exc
    emit(as_json, report.summary(), _text_report(report))


def _text_report(report: Any) -> str:
    lines = [
        f"encoding {report.encoding}; {report.processed:,} rows read",
        f"added {report.added:,}, updated {report.updated:,}, skipped {report.skipped:,} "
        f"(unsubscribed or suppressed), unchanged {report.unchanged:,}, "
        f"errors {len(report.errors):,}",
    ]
    if report.smtputf8:
        lines.append(
            f"{report.smtputf8:,} addresses have a non-ASCII local part: they need a relay "
            "that offers SMTPUTF8"
        )
    if report.cleaned:
        lines.append(f"{report.cleaned:,} values had line breaks or control characters removed")
    for error in report.errors[:MAX_ERRORS_SHOWN]:
        lines.append(f"  line {error['line']}: {error['reason']}")
    if len(report.errors) > MAX_ERRORS_SHOWN:
        lines.append(f"  … and {len(report.errors) - MAX_ERRORS_SHOWN:,} more (use --json)")
    return "\n".join(lines)
