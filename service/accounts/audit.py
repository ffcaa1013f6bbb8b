"""The audit log of staff actions: who sent, paused, imported, deleted, changed settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.model import AuditEntry


def audit(
    session: Session,
    user_id: int | None,
    action: str,
    target_type: str | None = None,
    target_id: int | str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> AuditEntry:
    """Append one entry. ``action`` is a short verb phrase, e.g. ``campaign.start``.

    Never put secrets in ``detail``: it is shown to admins as it is.
    """
    entry = AuditEntry(
        user_id=user_id,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=ip,
        detail=detail,
    )
    session.add(entry)
    return entry
