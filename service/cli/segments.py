"""Command-line commands for segments (``tidings segment``): saved filters on the audience
that ``tidings campaign add --segment ID`` narrows a campaign's lists by."""

from __future__ import annotations

import json

import click

from service.cli.common import emit, fail, json_option, session


def register(main: click.Group) -> None:
    """Add this domain's commands to the ``tidings`` group."""
    main.add_command(segment_group)


@click.group("segment")
def segment_group() -> None:
    """Segments: saved filters (organisation level, attributes, engagement) for campaigns."""


@segment_group.command("list")
@json_option
def segment_list(as_json: bool) -> None:
    """Every segment with its conditions and how many subscribers match now (enabled,
    active on a list that is not archived; suppressed addresses included)."""
    from service.subscribers.segments import all_segments, count

    with session() as (opened, _settings):
        items = [
            {
                "id": row.id,
                "name": row.name,
                "conditions": list(row.conditions or []),
                "count": count(opened, row.conditions or []),
            }
            for row in all_segments(opened)
        ]
    lines = [
        f"{s['id']:>6}  {s['count']:>6} match  {s['name']}  "
        + json.dumps(s["conditions"], ensure_ascii=False)
        for s in items
    ]
    emit(as_json, {"segments": items}, "\n".join(lines) or "no segments yet")


@segment_group.command("add")
@click.option("--name", required=True, help="A name of its own, e.g. 理事单位.")
@click.option(
    "--conditions",
    "conditions_json",
    default="[]",
    show_default=True,
    help='A JSON list, all of which must hold, e.g. \'[{"kind": "org_level_in", "levels": '
    '["理事单位"]}, {"kind": "opened_none", "last": 2}]\'. Kinds: org_level_in, '
    "org_level_not_in (levels), org_name_contains (text), attribute_equals, "
    "org_attribute_equals (key, value), has_organisation, no_organisation, opened_none, "
    "opened_any, clicked_none (last).",
)
@json_option
def segment_add(name: str, conditions_json: str, as_json: bool) -> None:
    """Save a segment (prints its id)."""
    from service.subscribers.segments import SegmentError, count, create_segment

    try:
        conditions = json.loads(conditions_json)
    except ValueError as exc:
        raise click.ClickException(f"--conditions is not JSON: {exc}") from exc
    with session() as (opened, _settings):
        try:
            row = create_segment(opened, name, conditions)
            opened.commit()
        except SegmentError as exc:
            raise fail(exc) from exc
        payload = {
            "id": row.id,
            "name": row.name,
            "conditions": row.conditions,
            "count": count(opened, row.conditions),
        }
    emit(as_json, payload, str(row.id))
