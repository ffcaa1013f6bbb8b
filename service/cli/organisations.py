"""Command-line commands for organisations (``tidings org``): the member companies."""

from __future__ import annotations

import click

from service.cli.common import emit, json_option, session


def register(main: click.Group) -> None:
    """Add this domain's commands to the ``tidings`` group."""
    main.add_command(org_group)


@click.group("org")
def org_group() -> None:
    """Organisations (member companies) and their contacts."""


@org_group.command("list")
@json_option
def org_list(as_json: bool) -> None:
    """Every organisation with its number of contacts and how many could be mailed now
    (active on at least one list and not suppressed)."""
    from service.subscribers.organisations import every_summary

    with session() as (opened, _settings):
        items = [s.as_dict() for s in every_summary(opened)]
    lines = [
        f"{o['id']:>6}  {o['contacts']:>5} contacts  {o['deliverable']:>5} deliverable  "
        f"{o['name']}" + (f"  [{o['level']}]" if o["level"] else "")
        for o in items
    ]
    emit(as_json, {"organisations": items}, "\n".join(lines) or "no organisations yet")
