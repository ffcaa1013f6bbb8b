"""Command-line commands for issues (`tidings issue ...`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from service.cli.common import with_session


def register(main: click.Group) -> None:
    """Add this domain's commands to the ``tidings`` group."""
    main.add_command(issue)


@click.group()
def issue() -> None:
    """Issues of the journal."""


# The exit status of an import refused because the document was imported before.
EXIT_DUPLICATE = 1


@issue.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--allow-duplicate",
    is_flag=True,
    help="Import even if the same document was imported before (a second, identical issue).",
)
def import_command(file: Path, as_json: bool, allow_duplicate: bool) -> None:
    """Import FILE (.md or .docx) as a new, unpublished issue and print its id.

    The same file imported before is refused (exit status 1, with the existing issue's id)
    unless --allow-duplicate is given.
    """
    from service.issues.store import (
        DocumentImportError,
        DuplicateIssue,
        create_issue_from_document,
        issue_summary,
    )

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from exc

    def run(session: Any) -> dict[str, Any]:
        issue = create_issue_from_document(
            session, file.name, data, allow_duplicate=allow_duplicate
        )
        return issue_summary(issue)

    try:
        summary = with_session(run)
    except DuplicateIssue as exc:
        message = f"{file.name}: {exc} Use --allow-duplicate to import it again anyway."
        if as_json:
            click.echo(json.dumps({"error": message, "duplicate_of": exc.duplicate_of}))
        else:
            click.echo(f"Error: {message}", err=True)
        raise SystemExit(EXIT_DUPLICATE) from exc
    except DocumentImportError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from exc
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    articles = sum(len(s["articles"]) for s in summary["sections"])
    click.echo(summary["id"])
    click.echo(
        f"imported {summary['title']} {summary['number']} as /archive/{summary['slug']}: "
        f"{len(summary['sections'])} sections, {articles} articles (not yet published)",
        err=True,
    )
