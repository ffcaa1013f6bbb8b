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

Each provider's check and parser has its module (`webhook_ses`, `webhook_sendgrid`,
`webhook_mailgun`, `webhook_postmark`); this one holds what they share and the record
path: the settings, `Unverified`, `WebhookEvent`, and `apply_events`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from service.events.bounces import Severity
from service.events.policy import Signal

SETTINGS_KEY = "webhooks"
PROVIDERS = ("ses", "sendgrid", "mailgun", "postmark")
SECRET_FIELDS = ("public_key", "signing_key", "password")
MAX_BODY_BYTES = 5 * 1024 * 1024
# What a provider's strings may be once stored: events.provider_event_id is VARCHAR(200);
# a longer id is kept as its hash (still unique, still the same on a retry).
MAX_EVENT_ID = 200
MAX_STORED_TEXT = 2000


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


def kind_of(severity: Severity) -> str | None:
    """The signal kind of a bounce severity ("hard", "soft", "policy"), else None."""
    return {Severity.HARD: "hard", Severity.SOFT: "soft", Severity.POLICY: "policy"}.get(severity)


def json_body(body: bytes) -> Any:
    """The body parsed as JSON; `Unverified` (400) when it is none."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deep is no JSON either
        raise Unverified(400, "body is not JSON") from exc


# Providers' payloads are read defensively: a field of an unexpected type (a provider's
# format change, or a stranger's guess) reads as absent instead of failing the request,
# which the provider would then retry for days.
def as_object(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


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
