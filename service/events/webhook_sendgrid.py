"""SendGrid webhooks (STANDARDS §3.7): an ECDSA P-256 signature over timestamp + raw
body, a fresh timestamp; bounce, blocked, deferred, spamreport and unsubscribe events
become `WebhookEvent`s.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.events.bounces import classify
from service.events.policy import Signal
from service.events.webhooks import Unverified, WebhookEvent, kind_of

SENDGRID_MAX_AGE_SECONDS = 600


def _sendgrid_key(text: str) -> ec.EllipticCurvePublicKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text))
    except (ValueError, binascii.Error) as exc:
        raise Unverified(403, "the configured SendGrid key is unreadable") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Unverified(403, "the configured SendGrid key is not an EC key")
    return key


def verify_sendgrid(
    body: bytes, headers: dict[str, str], public_key: str, now: float | None = None
) -> None:
    """ECDSA P-256 (SHA-256) over ``timestamp + raw body``."""
    signature = headers.get("x-twilio-email-event-webhook-signature", "")
    timestamp = headers.get("x-twilio-email-event-webhook-timestamp", "")
    if not signature or not timestamp:
        raise Unverified(401, "missing SendGrid signature headers")
    try:
        age = abs((now or time.time()) - int(timestamp))
    except ValueError as exc:
        raise Unverified(403, "bad SendGrid timestamp") from exc
    if age > SENDGRID_MAX_AGE_SECONDS:
        raise Unverified(403, "stale SendGrid timestamp")
    try:
        _sendgrid_key(public_key).verify(
            base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise Unverified(403, "bad SendGrid signature") from exc


SENDGRID_SENDER_SIDE = ("Reputation", "Content", "Frequency or Volume Too High")


def sendgrid_events(payload: Any) -> list[WebhookEvent]:
    """Bounce, blocked, deferred, spamreport and unsubscribe events."""
    out = []
    for item in payload if isinstance(payload, list) else []:
        if not isinstance(item, dict):
            continue
        event = item.get("event")
        status = str(item.get("status") or "")
        reason = str(item.get("reason") or item.get("response") or "")
        kind: str | None
        if event == "bounce":
            blocked = item.get("type") == "blocked"
            sender_side = item.get("bounce_classification") in SENDGRID_SENDER_SIDE
            kind = (
                "policy" if blocked or sender_side else kind_of(classify(status, "failed", reason))
            )
        elif event == "deferred":
            kind = "soft"
        elif event == "spamreport":
            kind = "complaint"
        elif event in ("unsubscribe", "group_unsubscribe"):
            kind = "unsubscribe"
        else:
            continue  # delivered, open, click, processed, dropped: nothing for us
        if kind is None:
            continue
        out.append(
            WebhookEvent(
                Signal(
                    kind,
                    "sendgrid",
                    str(item.get("sg_event_id") or ""),
                    status=status,
                    diagnostic=reason,
                    detail={"event": event},
                ),
                str(item.get("email", "")),
                [str(item["smtp-id"])] if item.get("smtp-id") else [],
            )
        )
    return [e for e in out if e.signal.provider_event_id]
