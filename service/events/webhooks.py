"""Provider webhooks: verify on the raw bytes first, then turn events into `Signal`s.

Providers (STANDARDS §3.7), with the secrets in the settings store under "webhooks":

- ``ses``: Amazon SES through SNS. Signature versions 1 (SHA1withRSA) and 2
  (SHA256withRSA) verified against the signing certificate, fetched over HTTPS only from
  an ``sns.<region>.amazonaws.com`` host and cached. Optional ``topic_arns`` allow-list.
  ``SubscriptionConfirmation`` is confirmed by fetching its ``SubscribeURL`` (same host
  rule). Config: ``{"ses": {"topic_arns": [...]}}``.
- ``sendgrid``: ECDSA P-256 signature over timestamp + raw body.
  Config: ``{"sendgrid": {"public_key": "<base64 DER or PEM>"}}``.
- ``mailgun``: HMAC-SHA256(signing key, timestamp + token); stale timestamps and reused
  tokens (remembered in Redis) are refused. Config: ``{"mailgun": {"signing_key": "…"}}``.
- ``postmark``: HTTP basic auth. Config: ``{"postmark": {"username": "…", "password": "…"}}``.

An unverified payload raises `Unverified` before anything is parsed, so it can change
nothing. Every event becomes one `Signal` with the provider's event id; the UNIQUE
(provider, provider_event_id) constraint makes a repeat a no-op.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from service.events.bounces import Severity, classify
from service.events.policy import Signal

SETTINGS_KEY = "webhooks"
PROVIDERS = ("ses", "sendgrid", "mailgun", "postmark")
SECRET_FIELDS = ("public_key", "signing_key", "password")
SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\Z")
SNS_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SNS_CERT_CACHE_SIZE = 16
HTTP_TIMEOUT_SECONDS = 5
MAILGUN_MAX_AGE_SECONDS = 300
MAILGUN_TOKEN_TTL_SECONDS = 2 * MAILGUN_MAX_AGE_SECONDS
MAILGUN_TOKEN_KEY = "tidings:webhooks:mailgun-token:"
SENDGRID_MAX_AGE_SECONDS = 600
MAX_BODY_BYTES = 5 * 1024 * 1024
# What a provider's strings may be once stored: events.provider_event_id is VARCHAR(200);
# a longer id is kept as its hash (still unique, still the same on a retry).
MAX_EVENT_ID = 200
MAX_STORED_TEXT = 2000

Fetch = Callable[[str], bytes]


class Unverified(Exception):
    """The payload's authenticity could not be established; answer ``status`` and stop."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class WebhookEvent:
    """One provider event, normalised: a signal plus what identifies the delivery."""

    signal: Signal
    email: str = ""
    message_ids: list[str] = field(default_factory=list)


def masked(value: dict[str, Any] | None) -> dict[str, Any]:
    """The "webhooks" settings with secrets shortened to their last 4 characters."""
    shown: dict[str, Any] = {}
    for provider, conf in (value or {}).items():
        conf = dict(conf) if isinstance(conf, dict) else {}
        for name in SECRET_FIELDS:
            secret = str(conf.get(name) or "")
            if secret:
                conf[name] = "…" + secret[-4:] if len(secret) > 12 else "****"
        shown[provider] = conf
    return shown


def _kind(severity: Severity) -> str | None:
    return {Severity.HARD: "hard", Severity.SOFT: "soft", Severity.POLICY: "policy"}.get(severity)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deep is no JSON either
        raise Unverified(400, "body is not JSON") from exc


# Providers' payloads are read defensively: a field of an unexpected type (a provider's
# format change, or a stranger's guess) reads as absent instead of failing the request,
# which the provider would then retry for days.
def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --------------------------------------------------------------------------- Amazon SES / SNS


class CertCache:
    """Signing certificates by URL (few distinct URLs; SNS rotates them rarely)."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch
        self._certs: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        """The certificate at ``url`` (an allowed SNS host), fetched once."""
        check_sns_url(url)
        with self._lock:
            cert = self._certs.get(url)
        if cert is None:
            try:
                cert = x509.load_pem_x509_certificate(self.fetch(url))
            except Exception as exc:  # unreachable host or not a certificate: unverified
                raise Unverified(403, f"signing certificate unavailable: {exc}") from exc
            with self._lock:
                if len(self._certs) >= SNS_CERT_CACHE_SIZE:
                    self._certs.clear()
                self._certs[url] = cert
        return cert


def check_sns_url(url: str) -> None:
    """Only ``https://sns.<region>.amazonaws.com/…`` may be fetched (no SSRF, no forgery)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is no number
    except ValueError as exc:
        raise Unverified(403, f"refused SNS URL {url[:200]!r}") from exc
    if parts.scheme != "https" or not SNS_HOST.match(parts.hostname or "") or port:
        raise Unverified(403, f"refused SNS URL {url[:200]!r}")


def https_get(url: str) -> bytes:
    """GET over HTTPS with a short timeout (certificate and subscription URLs)."""
    import requests

    response = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False)
    response.raise_for_status()
    return response.content


def sns_string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical string SNS signs (Subject only when present)."""
    fields = SNS_SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise Unverified(400, f"unknown SNS message type {message.get('Type')!r}")
    out = []
    for name in fields:
        if name in message and message[name] is not None:
            out.append(f"{name}\n{message[name]}\n")
        elif name != "Subject":
            raise Unverified(400, f"SNS message lacks {name}")
    return "".join(out).encode("utf-8")


def verify_sns(message: dict[str, Any], certs: CertCache, topic_arns: list[str]) -> None:
    """Check an SNS message's signature (v1 SHA1, v2 SHA256) and its topic."""
    version = str(message.get("SignatureVersion", ""))
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303 — SNS signature version 1 is SHA1withRSA
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise Unverified(403, f"unsupported SNS SignatureVersion {version!r}")
    # A valid SNS signature only proves that *some* AWS account sent the message: without
    # a list of our own topics, anyone with an AWS account could post fake bounces.
    if not topic_arns:
        raise Unverified(403, "no SES topic ARNs are configured; refusing every SNS message")
    if message.get("TopicArn") not in topic_arns:
        raise Unverified(403, "unexpected TopicArn")
    cert = certs.get(str(message.get("SigningCertURL") or message.get("SigningCertUrl") or ""))
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unverified(403, "SNS certificate key is not RSA")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        key.verify(signature, sns_string_to_sign(message), padding.PKCS1v15(), algorithm)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise Unverified(403, "bad SNS signature") from exc


def ses_events(notification: dict[str, Any]) -> list[WebhookEvent]:
    """Bounce and complaint notifications of SES (``notificationType`` or ``eventType``)."""
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = _obj(notification.get("mail"))
    headers = [_obj(h) for h in _items(mail.get("headers"))]
    message_ids = [
        str(h.get("value", "")) for h in headers if str(h.get("name", "")).lower() == "message-id"
    ]
    common = _obj(mail.get("commonHeaders")).get("messageId")
    if common:
        message_ids.append(str(common))
    if kind == "Bounce":
        return _ses_bounces(_obj(notification.get("bounce")), message_ids)
    if kind == "Complaint":
        complaint = _obj(notification.get("complaint"))
        return [
            WebhookEvent(
                Signal(
                    "complaint",
                    "ses",
                    f"{complaint.get('feedbackId')}:{r.get('emailAddress')}",
                    detail={"feedback_type": complaint.get("complaintFeedbackType", "")},
                ),
                str(r.get("emailAddress", "")),
                message_ids,
            )
            for r in map(_obj, _items(complaint.get("complainedRecipients")))
        ]
    return []  # Delivery, Send, Open, ...: we track those ourselves


def _ses_bounces(bounce: dict[str, Any], message_ids: list[str]) -> list[WebhookEvent]:
    bounce_type = bounce.get("bounceType")
    sub_type = bounce.get("bounceSubType", "")
    out = []
    for r in map(_obj, _items(bounce.get("bouncedRecipients"))):
        status = str(r.get("status") or "")
        diagnostic = str(r.get("diagnosticCode") or "")
        severity = classify(status, str(r.get("action") or "failed"), diagnostic)
        if bounce_type == "Permanent" and severity != Severity.POLICY:
            kind = "hard"
        elif sub_type in ("ContentRejected", "AttachmentRejected"):
            kind = "policy"
        elif bounce_type in ("Transient", "Undetermined") and severity != Severity.POLICY:
            kind = "soft"
        else:
            kind = _kind(severity) or "soft"
        out.append(
            WebhookEvent(
                Signal(
                    kind,
                    "ses",
                    f"{bounce.get('feedbackId')}:{r.get('emailAddress')}",
                    status=status,
                    diagnostic=diagnostic or f"{bounce_type}/{sub_type}",
                    detail={"bounce_type": bounce_type, "sub_type": sub_type},
                ),
                str(r.get("emailAddress", "")),
                message_ids,
            )
        )
    return out


def handle_ses(
    body: bytes, config: dict[str, Any], certs: CertCache, confirm: Fetch
) -> list[WebhookEvent]:
    """Verify an SNS POST; confirm subscriptions; return SES events of a notification."""
    message = _json(body)
    if not isinstance(message, dict):
        raise Unverified(400, "SNS body is not an object")
    verify_sns(message, certs, list(config.get("topic_arns") or []))
    if message.get("Type") == "SubscriptionConfirmation":
        url = str(message.get("SubscribeURL", ""))
        check_sns_url(url)
        try:
            confirm(url)
        except Exception as exc:  # SNS unreachable or saying no: a 4xx, the topic unconfirmed
            raise Unverified(403, f"could not confirm the SNS subscription: {exc}") from exc
        return []
    if message.get("Type") != "Notification":
        return []
    try:
        notification = json.loads(str(message.get("Message", "")))
    except ValueError:
        return []  # a plain-text test notification
    return ses_events(notification) if isinstance(notification, dict) else []


# --------------------------------------------------------------------------- SendGrid


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
            kind = "policy" if blocked or sender_side else _kind(classify(status, "failed", reason))
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


# --------------------------------------------------------------------------- Mailgun


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
    data = _obj(payload.get("event-data"))
    event = data.get("event")
    status_block = _obj(data.get("delivery-status"))
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
    headers = _obj(_obj(data.get("message")).get("headers"))
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


# --------------------------------------------------------------------------- Postmark


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


def _text(value: str, limit: int = MAX_STORED_TEXT) -> str:
    # What PostgreSQL text can hold: no NUL, no lone surrogates (JSON "\ud800" makes one).
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")[:limit]


def _event_id(value: str) -> str:
    cleaned = _text(value, limit=len(value))
    if len(cleaned) <= MAX_EVENT_ID:
        return cleaned
    return "sha256:" + hashlib.sha256(cleaned.encode("utf-8")).hexdigest()


def _detail_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return _text(value if isinstance(value, str) else json.dumps(value, default=str))


def _storable(event: WebhookEvent) -> WebhookEvent:
    # Every string made fit for the database: a provider's odd value (a NUL, a lone
    # surrogate, an overlong id, an object where text belongs) must not fail the request,
    # which the provider would then retry for days.
    signal = replace(
        event.signal,
        provider_event_id=_event_id(event.signal.provider_event_id),
        status=_text(event.signal.status),
        diagnostic=_text(event.signal.diagnostic),
        detail={str(k): _detail_value(v) for k, v in event.signal.detail.items()},
    )
    return WebhookEvent(signal, _text(event.email), [_text(m) for m in event.message_ids])


def apply_events(session: Any, settings: Any, events: list[WebhookEvent]) -> list[Any]:
    """Match each event to a delivery and apply it (a repeat is a named no-op)."""
    from service.events.inbound import delivery_for
    from service.events.policy import apply_signal

    outcomes = []
    for event in map(_storable, events):
        delivery = delivery_for(session, settings, event.message_ids, event.email)
        outcomes.append(apply_signal(session, delivery, event.signal))
    return outcomes
