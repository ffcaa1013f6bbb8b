"""Signed provider webhooks, built with real keys in the test (STANDARDS §3.7)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from service.accounts.settings_store import set_setting
from service.events.webhook_ses import sns_string_to_sign
from service.events.webhooks import masked
from service.mail.message_ids import message_id_for
from service.model import Event
from service.subscribers.suppression import is_suppressed
from tests.integration.events.events_factories import make_campaign, make_delivery

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
MAILGUN_KEY = "key-" + "m" * 32
POSTMARK = ("postmark", "s3cret-pass")


@pytest.fixture(scope="module")
def rsa_cert():
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
    return key, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def configured(app, session, rsa_cert, ec_key):
    fetched: list[str] = []

    def fetch_cert(url: str) -> bytes:
        fetched.append(url)
        return rsa_cert[1]

    confirmed: list[str] = []
    app.config["SNS_CERT_FETCHER"] = fetch_cert
    app.config["SNS_CONFIRM_FETCHER"] = lambda url: confirmed.append(url) or b"ok"
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
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "bounce@example.net")
    session.commit()
    return {"delivery": delivery, "fetched": fetched, "confirmed": confirmed}


def _events(session):
    return session.scalar(select(func.count(Event.id)))


def _sns(key, message: dict, version: str = "2") -> bytes:
    message = {"SignatureVersion": version, "SigningCertURL": CERT_URL, **message}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(sns_string_to_sign(message), padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(signature).decode()
    return json.dumps(message).encode()


def _ses_bounce(delivery, settings, bounce_type="Permanent", status="5.1.1", feedback="fb-1"):
    our_id = message_id_for(
        delivery.id, delivery.campaign_id, settings.secret_key.encode(), "example.org"
    )
    return {
        "Type": "Notification",
        "MessageId": secrets.token_hex(8),
        "TopicArn": TOPIC,
        "Timestamp": "2026-11-26T02:00:00.000Z",
        "Message": json.dumps(
            {
                "notificationType": "Bounce",
                "bounce": {
                    "bounceType": bounce_type,
                    "bounceSubType": "General",
                    "feedbackId": feedback,
                    "bouncedRecipients": [
                        {
                            "emailAddress": "bounce@example.net",
                            "action": "failed",
                            "status": status,
                            "diagnosticCode": f"smtp; 550 {status} no",
                        }
                    ],
                },
                "mail": {
                    "messageId": "ses-internal-id",
                    "headers": [{"name": "Message-ID", "value": our_id}],
                },
            }
        ),
    }


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_ses_bounce_suppresses_and_its_repeat_is_a_no_op(
    client, session, settings, rsa_cert, configured, version
):
    body = _sns(rsa_cert[0], _ses_bounce(configured["delivery"], settings), version)
    first = client.post("/webhooks/ses", data=body, content_type="text/plain")
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["applied"] == 1
    assert is_suppressed(session, "bounce@example.net")
    session.refresh(configured["delivery"])
    assert configured["delivery"].status == "bounced_hard"
    again = client.post("/webhooks/ses", data=body, content_type="text/plain")
    assert again.status_code == 200 and again.get_json()["applied"] == 0
    assert _events(session) == 1
    assert configured["fetched"] == [CERT_URL]  # the certificate came from the cache


def test_a_tampered_ses_message_changes_nothing(client, session, settings, rsa_cert, configured):
    message = json.loads(_sns(rsa_cert[0], _ses_bounce(configured["delivery"], settings)))
    message["Message"] = message["Message"].replace("Permanent", "Transient")
    resp = client.post("/webhooks/ses", data=json.dumps(message))
    assert resp.status_code == 403
    assert _events(session) == 0 and not is_suppressed(session, "bounce@example.net")


def test_a_certificate_from_a_foreign_host_is_never_fetched(
    client, session, settings, rsa_cert, configured
):
    message = json.loads(_sns(rsa_cert[0], _ses_bounce(configured["delivery"], settings)))
    for url in (
        "https://evil.example/sns.pem",
        "http://sns.eu-west-1.amazonaws.com/x.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
    ):
        message["SigningCertURL"] = url
        assert client.post("/webhooks/ses", data=json.dumps(message)).status_code == 403
    assert configured["fetched"] == []


def test_an_unexpected_topic_is_refused(client, session, settings, rsa_cert, configured):
    message = {**_ses_bounce(configured["delivery"], settings), "TopicArn": "arn:aws:sns:x:1:other"}
    assert client.post("/webhooks/ses", data=_sns(rsa_cert[0], message)).status_code == 403


def test_without_configured_topics_a_validly_signed_ses_message_is_refused(
    client, session, settings, rsa_cert, configured
):
    # A good SNS signature proves only that some AWS account sent it, not that it is ours.
    set_setting(session, "webhooks", {"ses": {"topic_arns": []}})
    session.commit()
    resp = client.post(
        "/webhooks/ses", data=_sns(rsa_cert[0], _ses_bounce(configured["delivery"], settings))
    )
    assert resp.status_code == 403
    assert _events(session) == 0 and not is_suppressed(session, "bounce@example.net")


def test_an_ses_subscription_confirmation_is_confirmed(client, rsa_cert, configured):
    url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"
    body = _sns(
        rsa_cert[0],
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "m-1",
            "Token": "t",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe",
            "SubscribeURL": url,
            "Timestamp": "2026-11-26T02:00:00.000Z",
        },
    )
    assert client.post("/webhooks/ses", data=body).status_code == 200
    assert configured["confirmed"] == [url]


def test_a_transient_ses_bounce_is_soft_and_a_5_7_status_only_alerts(
    client, session, settings, rsa_cert, configured
):
    delivery = configured["delivery"]
    soft = _sns(rsa_cert[0], _ses_bounce(delivery, settings, "Transient", "4.2.2", "fb-2"))
    assert client.post("/webhooks/ses", data=soft).status_code == 200
    session.refresh(delivery)
    assert delivery.status == "bounced_soft"
    policy = _sns(rsa_cert[0], _ses_bounce(delivery, settings, "Permanent", "5.7.1", "fb-3"))
    assert client.post("/webhooks/ses", data=policy).status_code == 200
    assert not is_suppressed(session, "bounce@example.net")
    assert session.scalar(select(Event.type).where(Event.provider_event_id.like("fb-3%"))) == (
        "sender_alert"
    )


def _sendgrid(key, events: list, timestamp: int | None = None):
    body = json.dumps(events).encode()
    ts = str(timestamp or int(time.time()))
    signature = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
    }


def test_a_signed_sendgrid_spam_report_is_a_complaint(client, session, ec_key, configured):
    body, headers = _sendgrid(
        ec_key,
        [
            {"event": "spamreport", "email": "bounce@example.net", "sg_event_id": "sg-1"},
            {"event": "open", "email": "bounce@example.net", "sg_event_id": "sg-2"},
        ],
    )
    resp = client.post(
        "/webhooks/sendgrid", data=body, headers=headers, content_type="application/json"
    )
    assert resp.status_code == 200 and resp.get_json()["applied"] == 1
    session.refresh(configured["delivery"])
    assert configured["delivery"].status == "complained"
    again = client.post("/webhooks/sendgrid", data=body, headers=headers)
    assert again.status_code == 200 and _events(session) == 1


def test_a_sendgrid_payload_signed_by_another_key_or_altered_is_refused(
    client, session, ec_key, configured
):
    stranger = ec.generate_private_key(ec.SECP256R1())
    events = [
        {
            "event": "bounce",
            "type": "bounce",
            "status": "5.1.1",
            "email": "bounce@example.net",
            "sg_event_id": "sg-9",
        }
    ]
    body, headers = _sendgrid(stranger, events)
    assert client.post("/webhooks/sendgrid", data=body, headers=headers).status_code == 403
    body, headers = _sendgrid(ec_key, events)
    assert client.post("/webhooks/sendgrid", data=body + b" ", headers=headers).status_code == 403
    assert client.post("/webhooks/sendgrid", data=body).status_code == 401
    assert _events(session) == 0


def _mailgun(event_data: dict, timestamp: int | None = None, token: str | None = None) -> bytes:
    ts = str(timestamp or int(time.time()))
    token = token or secrets.token_hex(25)
    signature = hmac.new(MAILGUN_KEY.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": ts, "token": token, "signature": signature},
            "event-data": event_data,
        }
    ).encode()


MAILGUN_FAILED = {
    "id": "mg-1",
    "event": "failed",
    "severity": "permanent",
    "reason": "bounce",
    "recipient": "bounce@example.net",
    "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"},
}


def test_a_signed_mailgun_permanent_failure_is_a_hard_bounce(client, session, configured):
    resp = client.post(
        "/webhooks/mailgun", data=_mailgun(MAILGUN_FAILED), content_type="application/json"
    )
    assert resp.status_code == 200 and resp.get_json()["applied"] == 1
    assert is_suppressed(session, "bounce@example.net")


def test_mailgun_stale_timestamps_reused_tokens_and_bad_signatures_are_refused(
    client, session, configured
):
    stale = _mailgun(MAILGUN_FAILED, timestamp=int(time.time()) - 3600)
    assert client.post("/webhooks/mailgun", data=stale).status_code == 403
    body = _mailgun({**MAILGUN_FAILED, "severity": "temporary"}, token="same-token-" + "x" * 20)
    assert client.post("/webhooks/mailgun", data=body).status_code == 200
    assert client.post("/webhooks/mailgun", data=body).status_code == 403  # replayed token
    forged = json.loads(_mailgun(MAILGUN_FAILED))
    forged["signature"]["signature"] = "0" * 64
    assert client.post("/webhooks/mailgun", data=json.dumps(forged)).status_code == 403
    assert not is_suppressed(session, "bounce@example.net")


@pytest.mark.parametrize("signature", ["abc", ["a"], 7, None])
def test_a_mailgun_post_whose_signature_is_no_object_is_refused_and_changes_nothing(
    client, session, configured, signature
):
    body = json.dumps({"signature": signature, "event-data": MAILGUN_FAILED})
    assert client.post("/webhooks/mailgun", data=body).status_code == 401
    assert _events(session) == 0 and not is_suppressed(session, "bounce@example.net")


def test_signed_mailgun_event_data_of_the_wrong_type_reads_as_absent(client, session, configured):
    for data in ("a string", [MAILGUN_FAILED]):
        resp = client.post("/webhooks/mailgun", data=_mailgun(data))  # type: ignore[arg-type]
        assert resp.status_code == 200 and resp.get_json()["applied"] == 0
    assert not is_suppressed(session, "bounce@example.net")
    # A delivery-status that is no object: the failure still counts, without its code.
    odd = client.post(
        "/webhooks/mailgun", data=_mailgun({**MAILGUN_FAILED, "delivery-status": "x"})
    )
    assert odd.status_code == 200 and odd.get_json()["applied"] == 1
    assert is_suppressed(session, "bounce@example.net")


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


POSTMARK_BOUNCE = {
    "RecordType": "Bounce",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Email": "bounce@example.net",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
    "BouncedAt": "2026-11-26T02:10:00Z",
}


def test_postmark_needs_its_basic_auth_and_then_suppresses(client, session, configured):
    assert client.post("/webhooks/postmark", json=POSTMARK_BOUNCE).status_code == 401
    wrong = client.post(
        "/webhooks/postmark", json=POSTMARK_BOUNCE, headers=_basic("postmark", "no")
    )
    assert wrong.status_code == 403
    assert _events(session) == 0
    ok = client.post("/webhooks/postmark", json=POSTMARK_BOUNCE, headers=_basic(*POSTMARK))
    assert ok.status_code == 200
    assert is_suppressed(session, "bounce@example.net")
    repeat = client.post("/webhooks/postmark", json=POSTMARK_BOUNCE, headers=_basic(*POSTMARK))
    assert repeat.status_code == 200 and _events(session) == 1


def test_unknown_and_unconfigured_providers_change_nothing(client, session):
    assert client.post("/webhooks/nope", data=b"{}").status_code == 404
    assert client.post("/webhooks/postmark", json=POSTMARK_BOUNCE).status_code == 403
    assert client.post("/webhooks/ses", data=b"not json").status_code == 403


def test_webhook_secrets_are_never_shown_back_in_full():
    shown = masked({"mailgun": {"signing_key": MAILGUN_KEY}, "postmark": {"password": "pw"}})
    assert shown["mailgun"]["signing_key"] == "…" + MAILGUN_KEY[-4:]
    assert shown["postmark"]["password"] == "****"
