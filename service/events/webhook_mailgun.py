"""Mailgun webhooks (STANDARDS §3.7): HMAC-SHA256(signing key, timestamp + token), a
fresh timestamp, and a token never seen before (the web side remembers tokens in Redis
under `MAILGUN_TOKEN_KEY`); failed, complained and unsubscribed events become
`WebhookEvent`s.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from service.events.bounces import Severity, classify
from service.events.policy import Signal
from service.events.webhooks import Unverified, WebhookEvent, as_object

MAILGUN_MAX_AGE_SECONDS = 300
MAILGUN_TOKEN_TTL_SECONDS = 2 * MAILGUN_MAX_AGE_SECONDS
MAILGUN_TOKEN_KEY = "tidings:webhooks:mailgun-token:"


def verify_mailgun(
    signature: Any,
    signing_key: str,
    seen_token: Callable[[str], bool],
    now: float | None = None,
) -> None:
    """HMAC-SHA256(key, timestamp + token), fresh timestamp, token never seen before.

    ``signature`` is the payload's "signature" object (anything else is refused);
    ``seen_token(token)`` records the token and says whether it was already there.
    """
    if not isinstance(signature, dict):
        raise Unverified(401, "missing Mailgun signature")
    timestamp = str(signature.get("timestamp", ""))
    token = str(signature.get("token", ""))
    given = str(signature.get("signature", ""))
    if not (timestamp and token and given):
        raise Unverified(401, "missing Mailgun signature")
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256)
    # On bytes: compare_digest raises on a str with non-ASCII characters.
    if not hmac.compare_digest(expected.hexdigest().encode(), given.lower().encode()):
        raise Unverified(403, "bad Mailgun signature")
    try:
        age = abs((now or time.time()) - int(float(timestamp)))
    except (ValueError, OverflowError) as exc:  # "nan", "inf"
        raise Unverified(403, "bad Mailgun timestamp") from exc
    if age > MAILGUN_MAX_AGE_SECONDS:
        raise Unverified(403, "stale Mailgun timestamp")
    if seen_token(token):
        raise Unverified(403, "reused Mailgun token")


def mailgun_events(payload: dict[str, Any]) -> list[WebhookEvent]:
    """failed (permanent/temporary), complained and unsubscribed events."""
    data = as_object(payload.get("event-data"))
    event = data.get("event")
    status_block = as_object(data.get("delivery-status"))
    code = str(status_block.get("code") or "")
    diagnostic = str(status_block.get("message") or status_block.get("description") or "")
    kind: str | None
    if event == "failed":
        severity = classify("", "failed", f"{code} {diagnostic}")
        if severity == Severity.POLICY:
            kind = "policy"
        else:
            kind = "hard" if data.get("severity") == "permanent" else "soft"
    elif event == "complained":
        kind = "complaint"
    elif event == "unsubscribed":
        kind = "unsubscribe"
    else:
        return []
    headers = as_object(as_object(data.get("message")).get("headers"))
    message_id = str(headers.get("message-id") or "")
    ids = [message_id if message_id.startswith("<") else f"<{message_id}>"] if message_id else []
    return [
        WebhookEvent(
            Signal(
                kind,
                "mailgun",
                str(data.get("id") or ""),
                status=code,
                diagnostic=diagnostic,
                detail={"reason": data.get("reason", ""), "severity": data.get("severity")},
            ),
            str(data.get("recipient", "")),
            ids,
        )
    ]
