"""Provider webhooks (SES, SendGrid, Mailgun, Postmark): ``POST /webhooks/<provider>``.

Verification happens on the raw body before anything is parsed; an unverified payload
gets 401/403 and changes nothing. Verified events are applied in the request (each is a
few indexed queries; a provider batch is small), so the provider's retry on a 5xx is
our retry too, and a repeat is a no-op thanks to UNIQUE(provider, provider_event_id).
CSRF-exempt: providers post without a session.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from service.accounts.settings_store import get_setting
from service.events import webhook_mailgun as mailgun
from service.events import webhook_postmark as postmark
from service.events import webhook_sendgrid as sendgrid
from service.events import webhook_ses as ses
from service.events import webhooks as hooks
from service.web.context import db_session, settings
from service.web.extensions import csrf

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)

_cert_caches: dict[int, ses.CertCache] = {}


def _certs() -> ses.CertCache:
    # Tests inject their own fetcher through app.config (a self-signed certificate).
    fetch = current_app.config.get("SNS_CERT_FETCHER") or ses.https_get
    cache = _cert_caches.get(id(fetch))
    if cache is None:
        cache = _cert_caches[id(fetch)] = ses.CertCache(fetch)
    return cache


def _mailgun_token_seen(token: str) -> bool:
    from service.events.tracking import redis_for

    key = mailgun.MAILGUN_TOKEN_KEY + token[:200]
    fresh = redis_for(settings().redis_url).set(
        key, "1", nx=True, ex=mailgun.MAILGUN_TOKEN_TTL_SECONDS
    )
    return not fresh


def _forget_mailgun_token(body: bytes) -> None:
    from service.events.tracking import redis_for

    payload = hooks.json_body(body)
    signature = payload.get("signature") if isinstance(payload, dict) else None
    token = str(signature.get("token", "")) if isinstance(signature, dict) else ""
    redis_for(settings().redis_url).delete(mailgun.MAILGUN_TOKEN_KEY + token[:200])


def _events(provider: str, config: dict[str, Any], body: bytes) -> list[hooks.WebhookEvent]:
    headers = {k.lower(): v for k, v in request.headers.items()}
    if provider == "ses":
        confirm = current_app.config.get("SNS_CONFIRM_FETCHER") or ses.https_get
        return ses.handle_ses(body, config, _certs(), confirm)
    if provider == "sendgrid":
        sendgrid.verify_sendgrid(body, headers, str(config.get("public_key") or ""))
        return sendgrid.sendgrid_events(hooks.json_body(body))
    if provider == "mailgun":
        payload = hooks.json_body(body)
        if not isinstance(payload, dict):
            raise hooks.Unverified(400, "body is not an object")
        mailgun.verify_mailgun(
            payload.get("signature"),
            str(config.get("signing_key") or ""),
            _mailgun_token_seen,
        )
        return mailgun.mailgun_events(payload)
    postmark.verify_basic_auth(
        headers.get("authorization", ""),
        str(config.get("username") or ""),
        str(config.get("password") or ""),
    )
    payload = hooks.json_body(body)
    return postmark.postmark_events(payload) if isinstance(payload, dict) else []


@bp.route("/webhooks/<provider>", methods=["POST"])
@csrf.exempt
def receive(provider: str) -> Any:
    """Verify, then apply the provider's events; 200 for a repeat, 4xx when unverified."""
    if provider not in hooks.PROVIDERS:
        abort(404)
    # Refused before it is read (413), not after: a stranger's 64 MB body stays unread.
    request.max_content_length = hooks.MAX_BODY_BYTES
    body = request.get_data(cache=False)
    if len(body) > hooks.MAX_BODY_BYTES:
        abort(413)
    session = db_session()
    config = (get_setting(session, hooks.SETTINGS_KEY, {}) or {}).get(provider)
    if not isinstance(config, dict):
        return jsonify(error=f"{provider} webhooks are not configured"), 403
    try:
        events = _events(provider, config, body)
    except hooks.Unverified as exc:
        log.warning("webhook %s refused: %s", provider, exc.reason)
        return jsonify(error=exc.reason), exc.status
    try:
        outcomes = hooks.apply_events(session, settings(), events)
        session.commit()
    except Exception:
        # Let the provider's retry through: forget the Mailgun token this attempt used.
        if provider == "mailgun":
            _forget_mailgun_token(body)
        raise
    return jsonify(received=len(events), applied=sum(1 for o in outcomes if hasattr(o, "effect")))
