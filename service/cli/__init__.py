"""The ``tidings`` command (DESIGN §7), the top floor's way in for people and scripts.

Commands are thin: they parse arguments and call domain functions; ``--json`` prints one
JSON object. A module per command group; ``common`` holds what they share.
"""

from __future__ import annotations

import click

from service.cli import (
    admin,
    audience,
    campaigns,
    events,
    issues,
    organisations,
    parts,
    segments,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tidings: self-hosted newsletter distribution."""


for _group in (parts.group, admin.group):
    for _command in _group.commands.values():
        main.add_command(_command)
for _module in (audience, organisations, segments, issues, campaigns, events):
    _module.register(main)
