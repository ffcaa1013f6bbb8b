"""The terms of a subscriber import, shared by every stage and every caller.

Where the rows go (``ImportTarget``, ``MODES``), what came of them (``ImportReport`` and
its row errors) and why an import would not start (``ImportSetupError``). They sit apart
from the stages (columns, rows, plan, writes) so that each stage, the entry point
(``importer.import_file``) and the jobs can use them without importing one another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from service.errors import DomainError, Message
from service.model import utcnow

# "add": only new people join; "upsert" ("add and update"): known people's profiles too.
MODES = ("add", "upsert")


class ImportSetupError(DomainError, ValueError):
    """The import cannot start (no email column, unknown list or mode)."""


@dataclass
class ImportTarget:
    """Where and how rows are written.

    ``started`` stamps every row this import creates or changes (created_at, updated_at,
    the membership's created_at): a later row of the same file that finds its address
    stamped is a duplicate. That keeps the dedupe exact without an in-memory set that
    would grow with the file.
    """

    list_id: int
    mode: str
    filename: str
    job_id: int | None = None
    started: datetime = field(default_factory=utcnow)


@dataclass
class ImportReport:
    """What an import did. ``errors`` lists every row not imported for a fault of its own."""

    encoding: str = ""
    delimiter: str = ""
    total: int = 0
    processed: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0  # unsubscribed, erased or suppressed: never resubscribed
    unchanged: int = 0  # already on the list ("add only")
    duplicates: int = 0  # the same address again further down the file
    smtputf8: int = 0  # accepted, but only an SMTPUTF8 relay can deliver to them
    cleaned: int = 0  # line breaks or control characters removed from a value
    errors: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object of the CLI (DESIGN §7), plus the extra counters.

        Its errors are ``{line, reason}`` as DESIGN §7 has them (the codes are for the admin).
        """
        errors = [{"line": e["line"], "reason": e["reason"]} for e in self.errors]
        return {**asdict(self), "errors": errors}


def row_error(line: int | None, message: Message) -> dict[str, Any]:
    """One entry of a report's (and a job's) ``errors``: the line, the English ``reason``
    that the CLI and the API show, and the code and parameters the admin translates."""
    entry: dict[str, Any] = {"line": line, "reason": message.text, "code": message.code}
    if message.params:
        entry["params"] = message.dump()["params"]
    return entry


def row_message(entry: Mapping[str, Any]) -> Message:
    """The message of an ``errors`` entry (one stored before codes existed has only text)."""
    return Message.load(
        {"code": entry.get("code"), "text": entry.get("reason"), "params": entry.get("params")}
    )
