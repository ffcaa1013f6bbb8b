"""What the campaign pages share: the campaign of a URL (or a 404), its audit entry, its
segment. The pages are in ``campaigns`` (the blueprint, the list and the campaign page),
``campaign_forms``, ``campaign_sending`` and ``campaign_settings``."""

from __future__ import annotations

from typing import Any

from flask import abort, request
from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.model import Campaign, Segment
from service.web.roles import current_user_id


def campaign_or_404(session: Session, campaign_id: int) -> Campaign:
    """The campaign with this id, or a 404 page."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def audit_campaign(session: Session, action: str, campaign_id: int, **detail: Any) -> None:
    """Write the audit entry of a staff member's action on a campaign."""
    audit(
        session, current_user_id(), action, "campaign", campaign_id, request.remote_addr, **detail
    )


def segment_of(session: Session, campaign: Campaign) -> Segment | None:
    """The segment the campaign is sent to, or None (every member of its lists)."""
    return session.get(Segment, campaign.segment_id) if campaign.segment_id else None
