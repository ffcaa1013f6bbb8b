"""Postmark webhooks (STANDARDS §3.7): Postmark signs nothing, so the request carries HTTP
basic auth; Bounce and SpamComplaint records become `WebhookEvent`s.
"""

from __future__ import annotations

import base64
import hmac
from datetime import datetime
from typing import Any

from service.events.policy import Signal
from service.events.webhooks import Unverified, WebhookEvent


def verify_basic_auth(authorization: str, username: str, password: str) -> None:
    """HTTP basic auth (Postmark signs nothing; STANDARDS §3.7)."""
    if not authorization.lower().startswith("basic "):
        raise Unverified(401, "missing basic auth")
    try:
        user, _, given = base64.b64decode(authorization[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error, or non-ASCII text
        raise Unverified(401, "unreadable basic auth") from exc
    ok_user = hmac.compare_digest(user.encode(), username.encode())
    ok_pass = hmac.compare_digest(given.encode(), password.encode())
    if not (ok_user and ok_pass and password):
        raise Unverified(403, "wrong credentials")


POSTMARK_HARD = ("HardBounce", "BadEmailAddress", "ManuallyDeactivated", "AddressChange")
POSTMARK_SOFT = ("SoftBounce", "Transient", "DnsError", "AutoResponder", "ChallengeVerification")
POSTMARK_POLICY = (
    "Blocked",
    "DMARCPolicy",
    "SpamNotification",
    "ContentRelated",
    "VirusNotification",
    "SMTPApiError",
)


def postmark_events(payload: dict[str, Any]) -> list[WebhookEvent]:
    """Bounce and SpamComplaint records."""
    record = payload.get("RecordType")
    kind: str | None = None
    if record == "Bounce":
        bounce_type = payload.get("Type", "")
        if bounce_type in POSTMARK_HARD:
            kind = "hard"
        elif bounce_type in POSTMARK_SOFT:
            kind = "soft"
        elif bounce_type in POSTMARK_POLICY:
            kind = "policy"
        if bounce_type == "AutoResponder":
            kind = None  # an out-of-office, not a bounce
    elif record == "SpamComplaint":
        kind = "complaint"
    if kind is None:
        return []
    details = str(payload.get("Details") or payload.get("Description") or "")
    at = _iso(payload.get("BouncedAt"))
    return [
        WebhookEvent(
            Signal(
                kind,
                "postmark",
                f"{record}:{payload.get('ID')}",
                status="",
                diagnostic=details,
                at=at,
                detail={"type": payload.get("Type", "")},
            ),
            str(payload.get("Email", "")),
        )
    ]


def _iso(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None
