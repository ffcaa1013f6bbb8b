"""Command-line commands for events (`tidings bounces`, ...)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add this domain's commands to the ``tidings`` group."""
