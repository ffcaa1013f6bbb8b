"""Amazon SES webhooks, posted through SNS (STANDARDS §3.7): signature versions 1
(SHA1withRSA) and 2 (SHA256withRSA) checked against the signing certificate, which is
fetched over HTTPS only from an ``sns.<region>.amazonaws.com`` host and cached; the topic
must be one of the configured ``topic_arns``; a ``SubscriptionConfirmation`` is confirmed
by fetching its ``SubscribeURL`` (same host rule). Bounce and complaint notifications
become `WebhookEvent`s.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from service.events.bounces import Severity, classify
from service.events.policy import Signal
from service.events.webhooks import Unverified, WebhookEvent, as_list, as_object, json_body, kind_of

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

Fetch = Callable[[str], bytes]


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
    mail = as_object(notification.get("mail"))
    headers = [as_object(h) for h in as_list(mail.get("headers"))]
    message_ids = [
        str(h.get("value", "")) for h in headers if str(h.get("name", "")).lower() == "message-id"
    ]
    common = as_object(mail.get("commonHeaders")).get("messageId")
    if common:
        message_ids.append(str(common))
    if kind == "Bounce":
        return _ses_bounces(as_object(notification.get("bounce")), message_ids)
    if kind == "Complaint":
        complaint = as_object(notification.get("complaint"))
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
            for r in map(as_object, as_list(complaint.get("complainedRecipients")))
        ]
    return []  # Delivery, Send, Open, ...: we track those ourselves


def _ses_bounces(bounce: dict[str, Any], message_ids: list[str]) -> list[WebhookEvent]:
    bounce_type = bounce.get("bounceType")
    sub_type = bounce.get("bounceSubType", "")
    out = []
    for r in map(as_object, as_list(bounce.get("bouncedRecipients"))):
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
            kind = kind_of(severity) or "soft"
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
    message = json_body(body)
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
