"""Command-line commands for lists and subscribers (`tidings list ...`, `tidings subscriber ...`)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add this domain's commands to the ``tidings`` group."""
