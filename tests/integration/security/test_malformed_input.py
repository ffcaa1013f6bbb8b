"""Nothing a stranger sends to a public URL gives a 500: every public route of the URL map,
through the real app (the Flask test client, real Redis and database), fed non-ASCII,
control characters, overlong and mangled values in its path, query, form, JSON body and
headers. Each answer is a 4xx at worst; the open pixel answers its GIF for any token.

The webhooks get the same treatment twice: as a stranger sends them (unsigned) and as a
provider would if its format changed under us (correctly signed, odd types and missing
fields), since a 500 there makes the provider retry the same payload for days.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service import tokens
from service.accounts.settings_store import set_setting
from service.cli.demo import load_demo
from service.config import Settings
from service.events.webhook_ses import sns_string_to_sign
from service.events.webhooks import MAX_BODY_BYTES
from service.issues.publishing import preview_token
from service.model import Issue, MailingList, Subscriber
from service.subscribers.unsubscribe_links import campaign_unsubscribe_token
from service.web.app import create_app, get_db
from service.web.extensions import limiter
from tests.conftest import _empty_tables
from tests.integration.events.events_factories import make_campaign, make_delivery

PUBLIC_BLUEPRINTS = ("public", "auth", "reader", "archive", "tracking", "webhooks", "metrics")
METRICS_TOKEN = "fuzz-metrics-token-0123456789"
MAILGUN_KEY = "key-" + "f" * 32
POSTMARK = ("postmark", "fuzz-pass")
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
WEBHOOK_RECIPIENTS = ("bounce@example.net", "b@example.net")
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-fuzz.pem"

# What a stranger types, pastes or scripts: each is tried wherever a value goes.
GARBAGE = [
    "é",
    "退订",
    "ａｂｃ１２３",  # full-width letters and digits (int() reads such digits)
    "١٢٣.٤٥٦.abcdefghijklmnop",  # Arabic-Indic digits in a token's shape
    "😀",
    "\u202e\u200b\ufeff",  # bidi override, zero-width space, BOM
    "\x00",
    "a\x00b",
    "\x01\x1f\x7f",
    "a\r\nSet-Cookie: x=1",
    "\t \t",
    "",
    " ",
    "x" * 5000,
    "é" * 3000,
    "...",
    "1.2",
    "1.2.aaaaaaaaaaaaaaaa",  # a token's shape with a wrong MAC
    "zzzzzzzzzzzzz.zzzzzzzzzzzzzzzz",  # ids past 64 bits
    "-1.-1.aaaaaaaaaaaaaaaa",
    "1.1.aaaaaaaaaaaaaaaé",  # a MAC with a non-ASCII character
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00%ff",
    "99999999999999999999999999999",
    "-99999999999999999999999999999",
    "1e999",
    "NaN",
    "[]",
    "{}",
    "null",
    "http://[::1",
    "https://sns.eu-west-1.amazonaws.com:port/x.pem",
]
# Percent-encodings as they arrive in a URL, some of them not UTF-8 at all.
RAW_PATH_PARTS = ["%FF", "%C0%AF", "%ED%A0%80", "%E9", "%00", "a%2Fb", "%25"]


def _header(value: str) -> str:
    """A header value as a WSGI server hands it over (UTF-8 bytes read as Latin-1); line
    breaks dropped (no server passes them through)."""
    return value.replace("\r", "").replace("\n", "").encode("utf-8").decode("latin-1")


def _path_values() -> list[str]:
    return [quote(v, safe="") for v in GARBAGE if v] + RAW_PATH_PARTS


def _mangled(token: str) -> list[str]:
    """A real token, damaged the ways mail clients and people damage links."""
    return [
        quote(v, safe="")
        for v in (
            token + "é",
            token[:-1] + "é",
            "é" + token,
            token.upper(),
            token[:-3],
            token + token,
            token.replace(".", ".."),
            token.replace(".", "\x00"),
            token + "\u200b",
            token[:-1] + "а",  # a Cyrillic а
        )
    ]


@dataclass
class Seeded:
    """What the requests point at: real rows and real tokens."""

    list_slug: str
    issue_slug: str
    subscriber_id: int
    unsubscribe: str
    preferences: str
    open: str
    click: str
    preview: str
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, bytes, ec.EllipticCurvePrivateKey]:
    """An SNS-like signing certificate and a SendGrid-like key, made for this module."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return (
        key,
        cert.public_bytes(serialization.Encoding.PEM),
        ec.generate_private_key(ec.SECP256R1()),
    )


@pytest.fixture
def fuzz_app(settings: Settings, keys: tuple[Any, bytes, Any]) -> Iterator[Flask]:
    """The app as deployed, with the CSRF check off so that each request reaches the code
    behind it (the check only answers earlier, with a 400); rate limits are reset before
    each request (`_send`) for the same reason."""
    application = create_app(
        test_config={"TESTING": True, "WTF_CSRF_ENABLED": False},
        settings=settings.with_overrides(metrics_token=METRICS_TOKEN),
    )
    application.config["SNS_CERT_FETCHER"] = lambda url: keys[1]
    application.config["SNS_CONFIRM_FETCHER"] = lambda url: b"ok"
    yield application
    _empty_tables(get_db(application))
    get_db(application).dispose()


@pytest.fixture
def seeded(fuzz_app: Flask, settings: Settings, keys: tuple[Any, bytes, Any]) -> Seeded:
    """A public list, a subscriber, the demo issue (published) and a draft issue, the
    webhooks configured, and a real token of every kind."""
    secret = settings.secret_key
    with get_db(fuzz_app).session() as session:
        demo = load_demo(session)
        session.add(MailingList(slug="quarterly", name="会刊季刊", double_opt_in=True))
        issue = session.get(Issue, demo.issue_id)
        assert issue is not None
        issue.published_at = datetime.now(UTC)
        draft = Issue(title="草稿", slug="draft-issue", structure=dict(issue.structure))
        session.add(draft)
        subscriber = session.query(Subscriber).order_by(Subscriber.id).first()
        assert subscriber is not None
        _configure_webhooks(session, keys[2])
        # Deliveries the providers' events name, so that signed events get applied.
        campaign = make_campaign(session)
        for address in WEBHOOK_RECIPIENTS:
            make_delivery(session, campaign, address)
        session.commit()
        sid = subscriber.id
        seeded = Seeded(
            list_slug="quarterly",
            issue_slug=issue.slug,
            subscriber_id=sid,
            unsubscribe=campaign_unsubscribe_token(secret, sid, 1),
            preferences=tokens.make_token(secret, tokens.PREFERENCES, sid),
            open=tokens.make_token(secret, tokens.OPEN, 1),
            click=tokens.make_token(secret, tokens.CLICK, 1, 0),
            preview=preview_token(secret, "draft-issue"),
            rsa_key=keys[0],
            ec_key=keys[2],
        )
    return seeded


def _configure_webhooks(session: Session, ec_key: ec.EllipticCurvePrivateKey) -> None:
    public_der = ec_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    set_setting(
        session,
        "webhooks",
        {
            "ses": {"topic_arns": [TOPIC]},
            "sendgrid": {"public_key": base64.b64encode(public_der).decode()},
            "mailgun": {"signing_key": MAILGUN_KEY},
            "postmark": {"username": POSTMARK[0], "password": POSTMARK[1]},
        },
    )


# --------------------------------------------------------------------------- requests

Request = tuple[str, str, dict[str, Any]]  # method, URL, keyword arguments of the client


def _reader_fields(value: str) -> list[dict[str, str]]:
    return [
        {"email": value},
        {"email": "ok@example.org", "name": value},
        {"email": "ok@example.org", "organisation": value},
        {"email": "ok@example.org", "language": value},
        {"email": "ok@example.org", "list": value},
        {"email": value, "website": value},
    ]


def _json_bodies() -> list[bytes]:
    deep = b"[" * 100_000 + b"]" * 100_000
    return [
        b"",
        b"{",
        b"\xff\xfe\x00",
        b"null",
        b"[]",
        b"[1, 2]",
        b'"email"',
        b"12",
        b'{"email": ["a@example.org"]}',
        b'{"email": {"x": 1}, "name": null}',
        b'{"email": 1e999, "name": -0}',
        b'{"email": "' + b"9" * 5000 + b'"}',
        b'{"email": ' + b"9" * 5000 + b"}",  # past Python's integer string limit
        deep,
        json.dumps({"email": "\x00@example.org", "name": "\ud800"}).encode(),
    ]


def subscribe_requests(s: Seeded) -> list[Request]:
    """GET/POST /subscribe and /subscribe/<slug>, form and JSON."""
    out: list[Request] = [("GET", f"/subscribe/{p}", {}) for p in _path_values()]
    for value in GARBAGE:
        out.append(("GET", "/subscribe", {"query_string": {"list": value}}))
        for fields in _reader_fields(value):
            out.append(("POST", "/subscribe", {"data": fields}))
            out.append(("POST", f"/subscribe/{s.list_slug}", {"data": fields}))
            out.append(("POST", f"/subscribe/{s.list_slug}", {"json": fields}))
    for body in _json_bodies():
        for ctype in ("application/json", "application/json; charset=é", "text/plain"):
            out.append(("POST", f"/subscribe/{s.list_slug}", {"data": body, "content_type": ctype}))
    out.append(
        (
            "POST",
            "/subscribe",
            {"data": b"\xff=\xfe&email=%FF", "content_type": "application/x-www-form-urlencoded"},
        )
    )
    return out


def confirm_requests(s: Seeded) -> list[Request]:
    """GET /confirm/<token>."""
    return [("GET", f"/confirm/{p}", {}) for p in _path_values()]


def resend_requests(s: Seeded) -> list[Request]:
    """POST /confirm/<token>/resend."""
    return [("POST", f"/confirm/{p}/resend", {}) for p in _path_values()]


def unsubscribe_requests(s: Seeded) -> list[Request]:
    """GET and POST /unsubscribe/<token>: garbage and mangled tokens, a real token with
    garbage in the form."""
    out: list[Request] = []
    for p in [*_path_values(), *_mangled(s.unsubscribe)]:
        out.append(("GET", f"/unsubscribe/{p}", {}))
        out.append(("POST", f"/unsubscribe/{p}", {"data": {"List-Unsubscribe": "One-Click"}}))
    for value in GARBAGE:
        form = {"confirm": value, "everything": value, "List-Unsubscribe": value}
        out.append(("POST", f"/unsubscribe/{s.unsubscribe}", {"data": form}))
        out.append(
            (
                "POST",
                f"/unsubscribe/{s.unsubscribe}",
                {"data": {"confirm": "1", "everything": value}},
            )
        )
    return out


def undo_unsubscribe_requests(s: Seeded) -> list[Request]:
    """POST /unsubscribe/<token>/undo: garbage and mangled tokens, then the real token
    twice (the second press finds its undo used), with garbage in the form."""
    out: list[Request] = [
        ("POST", f"/unsubscribe/{p}/undo", {}) for p in [*_path_values(), *_mangled(s.unsubscribe)]
    ]
    out.append(("POST", f"/unsubscribe/{s.unsubscribe}", {"data": {"confirm": "1"}}))
    for value in GARBAGE[:2]:
        out.append(("POST", f"/unsubscribe/{s.unsubscribe}/undo", {"data": {"x": value}}))
    return out


def preferences_request_requests(s: Seeded) -> list[Request]:
    """GET and POST /preferences (mail me my link)."""
    out: list[Request] = [("GET", "/preferences", {"query_string": {"lang": v}}) for v in GARBAGE]
    for value in GARBAGE:
        out.append(("POST", "/preferences", {"data": {"email": value}}))
        out.append(("POST", "/preferences", {"json": {"email": value, "website": value}}))
    for body in _json_bodies():
        out.append(("POST", "/preferences", {"data": body, "content_type": "application/json"}))
    return out


def preferences_page_requests(s: Seeded) -> list[Request]:
    """GET and POST /preferences/<token>: garbage tokens, and a real one with garbage."""
    out: list[Request] = []
    for p in [*_path_values(), *_mangled(s.preferences)]:
        out.append(("GET", f"/preferences/{p}", {}))
        out.append(("POST", f"/preferences/{p}", {"data": {"name": "x"}}))
    for value in GARBAGE:
        form = {"lists": [value, "1", "99999999999999999999999"], "name": value, "language": value}
        out.append(("POST", f"/preferences/{s.preferences}", {"data": form}))
        out.append(("POST", f"/preferences/{s.preferences}", {"data": {"everything": value}}))
    return out


def pixel_requests(s: Seeded) -> list[Request]:
    """GET /o/<token>."""
    return [("GET", f"/o/{p}", {}) for p in [*_path_values(), *_mangled(s.open)]]


def click_requests(s: Seeded) -> list[Request]:
    """GET /c/<token>."""
    return [("GET", f"/c/{p}", {}) for p in [*_path_values(), *_mangled(s.click)]]


def archive_index_requests(s: Seeded) -> list[Request]:
    """GET /archive/?page=…"""
    return [("GET", "/archive/", {"query_string": {"page": v}}) for v in GARBAGE]


def archive_issue_requests(s: Seeded) -> list[Request]:
    """GET /archive/<slug>, with and without ?preview=…"""
    out: list[Request] = [("GET", f"/archive/{p}", {}) for p in _path_values()]
    for value in [*GARBAGE, s.preview + "é", s.preview[:-2], s.preview.upper()]:
        out.append(("GET", "/archive/draft-issue", {"query_string": {"preview": value}}))
        out.append(("GET", f"/archive/{s.issue_slug}", {"query_string": {"preview": value}}))
    return out


def feed_requests(s: Seeded) -> list[Request]:
    """GET /archive/feed.xml."""
    return [("GET", "/archive/feed.xml", {"query_string": {"x": v}}) for v in GARBAGE]


def healthz_requests(s: Seeded) -> list[Request]:
    """GET /healthz with odd headers."""
    return [
        ("GET", "/healthz", {"headers": {"Authorization": _header(f"Bearer {v}")}}) for v in GARBAGE
    ]


def language_requests(s: Seeded) -> list[Request]:
    """GET /lang/<code>, and a garbage Referer to go back to."""
    out: list[Request] = [("GET", f"/lang/{p}", {}) for p in _path_values()]
    out += [("GET", "/lang/en", {"headers": {"Referer": _header(v)}}) for v in GARBAGE]
    return out


def logo_requests(s: Seeded) -> list[Request]:
    """GET /logo (none uploaded in the seed) with odd versions and odd methods."""
    out: list[Request] = [("GET", "/logo", {"query_string": {"v": v}}) for v in GARBAGE]
    return out + [("POST", "/logo", {}), ("GET", "/logo", {"headers": {"Range": "bytes=x"}})]


def article_image_requests(s: Seeded) -> list[Request]:
    """GET /images/<token>/<size>/<name> (none uploaded in the seed) with odd tokens."""
    out: list[Request] = [("GET", f"/images/{p}/10x10/x.png", {}) for p in _path_values()]
    out += [("GET", f"/images/abcdefghijkl/{p}/{p}", {}) for p in _path_values()]
    return out + [("POST", "/images/abcdefghijkl/10x10/x.png", {})]


def metrics_requests(s: Seeded) -> list[Request]:
    """GET /metrics with garbage bearer tokens."""
    out: list[Request] = []
    for value in GARBAGE:
        for auth in (f"Bearer {value}", value, f"Basic {value}"):
            out.append(("GET", "/metrics", {"headers": {"Authorization": _header(auth)}}))
    return out


def login_requests(s: Seeded) -> list[Request]:
    """GET and POST /login."""
    out: list[Request] = []
    for value in GARBAGE:
        out.append(("GET", "/login", {"query_string": {"next": value}}))
        form = {"email": value, "password": value, "next": value}
        out.append(("POST", "/login", {"data": form, "query_string": {"next": value}}))
    return out


def second_factor_requests(s: Seeded) -> list[Request]:
    """GET and POST /login/code without a password step behind them, with garbage."""
    out: list[Request] = []
    for value in GARBAGE:
        out.append(("GET", "/login/code", {"query_string": {"next": value}}))
        out.append(("POST", "/login/code", {"data": {"code": value, "next": value}}))
    return out


def logout_requests(s: Seeded) -> list[Request]:
    """POST /logout without a session, with garbage."""
    return [("POST", "/logout", {"data": {"next": v}}) for v in GARBAGE]


def static_requests(s: Seeded) -> list[Request]:
    """GET /static/<path>."""
    return [("GET", f"/static/{p}", {}) for p in _path_values()]


# --------------------------------------------------------------------------- webhooks

ODD_VALUES: list[Any] = [None, "", "é\x00", [], {}, [{}], 1, -1, 1e308, True, "x" * 300]


def _unsigned_webhook_bodies() -> list[bytes]:
    return [
        *_json_bodies(),
        b'{"signature": "abc"}',
        b'{"signature": ["a"]}',
        b'{"signature": null, "event-data": "x"}',
        json.dumps({"signature": {"timestamp": "inf", "token": [], "signature": "é"}}).encode(),
        b'{"Type": "Notification", "SignatureVersion": "2", "TopicArn": "' + TOPIC.encode() + b'"}',
        json.dumps(
            {
                "Type": "Notification",
                "SignatureVersion": "1",
                "TopicArn": TOPIC,
                "SigningCertURL": "https://[::1/x.pem",
            }
        ).encode(),
        json.dumps(
            {
                "Type": "Notification",
                "SignatureVersion": "1",
                "TopicArn": TOPIC,
                "SigningCertURL": "https://sns.eu-west-1.amazonaws.com:port/x.pem",
            }
        ).encode(),
        json.dumps({"Type": "Notification", "SignatureVersion": [], "TopicArn": [TOPIC]}).encode(),
    ]


def _odd_headers() -> list[dict[str, str]]:
    out = []
    for value in GARBAGE:
        v = _header(value)
        out.append({"Authorization": f"Basic {v}"})
        out.append({"Authorization": v})
        out.append(
            {
                "X-Twilio-Email-Event-Webhook-Signature": v,
                "X-Twilio-Email-Event-Webhook-Timestamp": v,
            }
        )
        out.append(
            {
                "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQ==",
                "X-Twilio-Email-Event-Webhook-Timestamp": v or "1",
            }
        )
    for raw in (b"nocolon", b"\xff\xfe:\xff", b"postmark:" + "é".encode()):
        out.append({"Authorization": "Basic " + base64.b64encode(raw).decode()})
    return out


def unsigned_webhook_requests(s: Seeded) -> list[Request]:
    """POST /webhooks/<provider> as a stranger: malformed bodies, odd headers, huge."""
    out: list[Request] = [("POST", f"/webhooks/{p}", {"data": b"{}"}) for p in _path_values()]
    huge = b"[" + b"0," * (MAX_BODY_BYTES // 2) + b"0]"
    for provider in ("ses", "sendgrid", "mailgun", "postmark"):
        for body in _unsigned_webhook_bodies():
            out.append(("POST", f"/webhooks/{provider}", {"data": body}))
        for headers in _odd_headers():
            out.append(("POST", f"/webhooks/{provider}", {"data": b"[]", "headers": headers}))
        out.append(("POST", f"/webhooks/{provider}", {"data": huge}))
        out.append(
            ("POST", f"/webhooks/{provider}", {"data": b"{}", "headers": {"Content-Length": "é"}})
        )
    return out


def _mailgun_signature(timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    token = secrets.token_hex(16)
    digest = hmac.new(MAILGUN_KEY.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": ts, "token": token, "signature": digest}


def _odd_event_payloads() -> list[Any]:
    """Payloads with the provider's field names and the wrong types or nothing in them."""
    out: list[Any] = [*ODD_VALUES]
    for value in ODD_VALUES:
        out.append({"event": "failed", "delivery-status": value, "message": value})
        out.append({"event": "failed", "message": {"headers": value}, "recipient": value})
        out.append(
            {
                "event": "failed",
                "recipient": "bounce@example.net",
                "id": value,
                "severity": value,
                "reason": value,
                "delivery-status": {"code": value, "message": value},
            }
        )
        out.append({"event": value, "recipient": "bounce@example.net"})
    return out


def signed_mailgun_requests(s: Seeded) -> list[Request]:
    """Mailgun posts with a good signature and odd event data (and odd timestamps)."""
    out: list[Request] = []
    for data in _odd_event_payloads():
        body = {"signature": _mailgun_signature(), "event-data": data}
        out.append(("POST", "/webhooks/mailgun", {"json": body}))
    for ts in ("inf", "-inf", "nan", "1e400", "１２３", "99999999999999999999999"):
        out.append(("POST", "/webhooks/mailgun", {"json": {"signature": _mailgun_signature(ts)}}))
    return out


def _sendgrid(s: Seeded, events: Any) -> Request:
    body = json.dumps(events).encode()
    ts = str(int(time.time()))
    signature = s.ec_key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
    }
    return ("POST", "/webhooks/sendgrid", {"data": body, "headers": headers})


def signed_sendgrid_requests(s: Seeded) -> list[Request]:
    """SendGrid posts with a good signature and odd events."""
    out = [_sendgrid(s, value) for value in ODD_VALUES]
    for value in ODD_VALUES:
        for name in ("event", "status", "reason", "email", "sg_event_id", "smtp-id", "type"):
            event = {
                "event": "bounce",
                "email": "bounce@example.net",
                "sg_event_id": secrets.token_hex(8),
                name: value,
            }
            out.append(_sendgrid(s, [event]))
    return out


def _postmark(payload: Any) -> Request:
    auth = base64.b64encode(f"{POSTMARK[0]}:{POSTMARK[1]}".encode()).decode()
    return (
        "POST",
        "/webhooks/postmark",
        {"json": payload, "headers": {"Authorization": f"Basic {auth}"}},
    )


def signed_postmark_requests(s: Seeded) -> list[Request]:
    """Postmark posts with the right credentials and odd records."""
    out = [_postmark(value) for value in ODD_VALUES]
    for value in ODD_VALUES:
        for name in ("RecordType", "Type", "ID", "Email", "Details", "BouncedAt"):
            record = {
                "RecordType": "Bounce",
                "Type": "HardBounce",
                "ID": 1,
                "Email": "b@example.net",
            }
            out.append(_postmark({**record, name: value}))
    return out


def _sns(s: Seeded, message: dict[str, Any]) -> Request:
    message = {
        "Type": "Notification",
        "MessageId": secrets.token_hex(8),
        "TopicArn": TOPIC,
        "Timestamp": "2026-11-26T02:00:00.000Z",
        "SignatureVersion": "2",
        "SigningCertURL": CERT_URL,
        **message,
    }
    signature = s.rsa_key.sign(sns_string_to_sign(message), padding.PKCS1v15(), hashes.SHA256())
    message["Signature"] = base64.b64encode(signature).decode()
    return ("POST", "/webhooks/ses", {"data": json.dumps(message).encode()})


def signed_ses_requests(s: Seeded) -> list[Request]:
    """SNS messages with a good signature and odd SES notifications inside."""
    out: list[Request] = []
    notifications: list[Any] = [*ODD_VALUES]
    for value in ODD_VALUES:
        notifications += [
            {"notificationType": "Bounce", "bounce": value, "mail": value},
            {"notificationType": "Bounce", "bounce": {"bouncedRecipients": value}},
            {"notificationType": "Bounce", "bounce": {"bouncedRecipients": [value]}},
            {
                "notificationType": "Bounce",
                "bounce": {
                    "bounceType": value,
                    "feedbackId": value,
                    "bouncedRecipients": [
                        {
                            "emailAddress": value,
                            "status": value,
                            "diagnosticCode": value,
                            "action": value,
                        }
                    ],
                },
                "mail": {"headers": [value], "commonHeaders": value},
            },
            {
                "notificationType": "Bounce",
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": value,
                    "feedbackId": value,
                    "bouncedRecipients": [
                        {
                            "emailAddress": "bounce@example.net",
                            "status": value,
                            "diagnosticCode": value,
                        }
                    ],
                },
            },
            {
                "notificationType": "Complaint",
                "complaint": {
                    "feedbackId": value,
                    "complaintFeedbackType": value,
                    "complainedRecipients": [{"emailAddress": "bounce@example.net"}],
                },
            },
            {"notificationType": "Complaint", "complaint": value},
            {"notificationType": "Complaint", "complaint": {"complainedRecipients": [value]}},
            {"eventType": value, "mail": {"headers": value}},
        ]
    for notification in notifications:
        out.append(_sns(s, {"Message": json.dumps(notification)}))
    out.append(_sns(s, {"Message": "not json"}))
    for value in ("", "é", "[]", "{}", "x" * 5000):
        out.append(
            _sns(
                s,
                {
                    "Type": "SubscriptionConfirmation",
                    "Token": "t",
                    "SubscribeURL": value,
                    "Message": "m",
                },
            )
        )
    return out


# --------------------------------------------------------------------------- the tests

CASES: dict[str, Callable[[Seeded], list[Request]]] = {
    "reader.subscribe_page": subscribe_requests,
    "reader.confirm_page": confirm_requests,
    "reader.resend_confirmation": resend_requests,
    "reader.unsubscribe_page": unsubscribe_requests,
    "reader.undo_unsubscribe_page": undo_unsubscribe_requests,
    "reader.preferences_request": preferences_request_requests,
    "reader.preferences_page": preferences_page_requests,
    "tracking.open_pixel": pixel_requests,
    "tracking.click": click_requests,
    "archive.index": archive_index_requests,
    "archive.issue": archive_issue_requests,
    "archive.feed": feed_requests,
    "webhooks.receive": unsigned_webhook_requests,
    "webhooks.receive mailgun signed": signed_mailgun_requests,
    "webhooks.receive sendgrid signed": signed_sendgrid_requests,
    "webhooks.receive postmark signed": signed_postmark_requests,
    "webhooks.receive ses signed": signed_ses_requests,
    "public.healthz": healthz_requests,
    "public.set_language": language_requests,
    "public.logo": logo_requests,
    "public.article_image": article_image_requests,
    "metrics.metrics": metrics_requests,
    "auth.login": login_requests,
    "auth.logout": logout_requests,
    "auth.second_factor": second_factor_requests,
    "static": static_requests,
}


# /healthz answers 503 when a part of the service is down (here: no worker runs), as
# DESIGN §7 and the container probes expect.
ALLOWED_5XX = {"public.healthz": (503,)}


def _send(client: FlaskClient, method: str, url: str, kwargs: dict[str, Any]) -> int | str:
    """The status of one request, or what went wrong inside the app."""
    limiter.reset()  # a 429 would hide what the request reaches past the limit
    try:
        return client.open(url, method=method, **kwargs).status_code
    except Exception as exc:  # noqa: BLE001 - the test reports every kind of failure
        return f"{type(exc).__name__}: {str(exc)[:200]}"


def _shown(url: str, kwargs: dict[str, Any]) -> str:
    return repr((url[:120], {k: repr(v)[:120] for k, v in kwargs.items()}))


def test_every_public_route_of_the_url_map_is_fuzzed(fuzz_app: Flask) -> None:
    public = {
        rule.endpoint
        for rule in fuzz_app.url_map.iter_rules()
        if rule.endpoint.partition(".")[0] in PUBLIC_BLUEPRINTS or rule.endpoint == "static"
    }
    covered = {case.partition(" ")[0] for case in CASES}
    assert public == covered


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input_never_gives_a_500(fuzz_app: Flask, seeded: Seeded, case: str) -> None:
    client = fuzz_app.test_client()
    failures = []
    requests = CASES[case](seeded)
    for method, url, kwargs in requests:
        status = _send(client, method, url, kwargs)
        if not isinstance(status, int) or (
            status >= 500 and status not in ALLOWED_5XX.get(case, ())
        ):
            failures.append(f"{method} {_shown(url, kwargs)} → {status}")
    assert not failures, f"{len(failures)} of {len(requests)}:\n" + "\n".join(failures[:40])


def test_the_open_pixel_answers_its_gif_for_any_token(fuzz_app: Flask, seeded: Seeded) -> None:
    client = fuzz_app.test_client()
    for method, url, kwargs in pixel_requests(seeded):
        if "%2F" in url or "%25" in url:
            continue  # /o/a%2Fb is another path to some servers; werkzeug keeps it one part
        resp = client.open(url, method=method, **kwargs)
        assert (resp.status_code, resp.mimetype) == (200, "image/gif"), url


@pytest.mark.parametrize("provider", ["ses", "sendgrid", "mailgun", "postmark"])
def test_a_webhook_body_declared_too_large_is_refused_unread(
    fuzz_app: Flask, seeded: Seeded, provider: str
) -> None:
    body = io.BytesIO(b"[" + b" " * 1000 + b"]")
    resp = fuzz_app.test_client().post(
        f"/webhooks/{provider}",
        input_stream=body,
        environ_overrides={"CONTENT_LENGTH": str(MAX_BODY_BYTES + 1)},  # what it declares
    )
    assert resp.status_code == 413
    assert body.tell() == 0  # not a byte read


def test_a_link_token_with_a_non_ascii_character_is_not_found_and_the_pixel_still_a_gif(
    fuzz_app: Flask, seeded: Seeded
) -> None:
    client = fuzz_app.test_client()
    for path, token in (
        ("unsubscribe", seeded.unsubscribe),
        ("preferences", seeded.preferences),
        ("c", seeded.click),
    ):
        damaged = quote(token[:-1] + "é")
        assert client.get(f"/{path}/{damaged}").status_code == 404, path
    pixel = client.get(f"/o/{quote(seeded.open[:-1] + 'é')}")
    assert (pixel.status_code, pixel.mimetype) == (200, "image/gif")
    assert client.post(f"/unsubscribe/{quote(seeded.unsubscribe + 'é')}").status_code == 404
