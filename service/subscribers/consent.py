"""The consent log: append-only evidence of every subscribe, confirm, unsubscribe,
preference change and import (STANDARDS §7.2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.model import Consent

# Bump when the wording next to the subscribe button changes, so each consent row
# says which text the person saw.
CONSENT_TEXT_VERSION = "2026-11-v1"


def record_consent(
    session: Session,
    *,
    subscriber_id: int | None,
    list_id: int | None,
    action: str,
    source: str,
    ip: str | None = None,
    user_agent: str | None = None,
    text_version: str | None = CONSENT_TEXT_VERSION,
    detail: dict[str, Any] | None = None,
) -> Consent:
    """Append one consent event. Rows are never updated or deleted (except by erasure).

    ``action``: subscribe, confirm, unsubscribe, unsubscribe_all, preferences, import, ...
    ``source``: form, import, admin, one-click, api, ...
    """
    row = Consent(
        subscriber_id=subscriber_id,
        list_id=list_id,
        action=action,
        source=source,
        ip=ip,
        user_agent=(user_agent or "")[:500] or None,
        consent_text_version=text_version,
        detail=detail or {},
    )
    session.add(row)
    return row
