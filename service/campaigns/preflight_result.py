"""What a preflight says (a part of ``service.campaigns.preflight``): the stable name and
level of each check, every check of one campaign's message, and whether sending may start.
A failed ``error`` blocks sending, a failed ``warning`` must be acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.errors import DomainError, Message

ERROR, WARNING = "error", "warning"
# The check names: the command line's and the page's contract.
RECIPIENTS = "recipients"
MESSAGE = "message"
OWN_LINKS = "own_links"
EXTERNAL_LINKS = "external_links"
ARCHIVE_PUBLIC = "archive_public"
SPF = "spf"
DKIM_RECORD = "dkim_record"
DMARC = "dmarc"
DKIM_SIGNATURE = "dkim_signature"
LIST_UNSUBSCRIBE = "list_unsubscribe"
HTML_SIZE = "html_size"
MAIL_FROM_ALIGNMENT = "mail_from_alignment"


@dataclass(frozen=True)
class Check:
    """One check: its stable ``name``, whether it passed, how much a failure weighs."""

    name: str
    ok: bool
    level: str
    detail: Message

    def as_dict(self) -> dict[str, Any]:
        """The check as the command line prints it (the detail in English)."""
        return {"name": self.name, "ok": self.ok, "level": self.level, "detail": self.detail.text}


@dataclass(frozen=True)
class Preflight:
    """Every check of one campaign's message."""

    checks: list[Check] = field(default_factory=list)

    @property
    def errors(self) -> list[Check]:
        """Failed checks that block sending."""
        return [c for c in self.checks if not c.ok and c.level == ERROR]

    @property
    def warnings(self) -> list[Check]:
        """Failed checks that need a person to say they read them."""
        return [c for c in self.checks if not c.ok and c.level == WARNING]

    @property
    def recipients(self) -> int:
        """How many the campaign reaches, suppressed addresses left out (the first check)."""
        found = next((c for c in self.checks if c.name == RECIPIENTS), None)
        return int(found.detail.params["recipients"]) if found is not None else 0

    @property
    def ok(self) -> bool:
        """Nothing blocks sending (warnings may still need acknowledging)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """``{"ok": bool, "checks": [...]}`` (the ``campaign check --json`` contract)."""
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}


class PreflightError(DomainError, RuntimeError):
    """Sending was refused: a check failed (its name is in the message)."""


def refusal(result: Preflight, acknowledged: bool) -> PreflightError | None:
    """Why sending must not start now: a failed error, or warnings not acknowledged."""
    if result.errors:
        return PreflightError(
            "preflight.blocked",
            "sending is blocked by the preflight: %(checks)s",
            checks=", ".join(f"{c.name} ({c.detail.text})" for c in result.errors),
        )
    if result.warnings and not acknowledged:
        return PreflightError(
            "preflight.unacknowledged",
            "the preflight warned (%(checks)s): confirm you have read the warnings",
            checks=", ".join(c.name for c in result.warnings),
        )
    return None
