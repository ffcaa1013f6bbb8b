"""Write the seed corpus of every fuzz target (``corpus/<target>/``), from the test data.

    python -m tests.fuzz.seeds

Small real examples, kilobytes in all: an excerpt of the demo issue and the sample issues,
Word files from ``tests.documents.build_docx``, the bounce corpus of ``tests/data/bounces``
(placeholders filled in), subscriber files as people make them, and webhook bodies shaped
like the providers' (as the webhook tests send them). Run it again after changing what a
seed should hold; the files are committed, so a run of the fuzzers needs no generation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.documents import DATA, DEMO_PATH, IMAGE, build_docx
from tests.fuzz.harnesses import (
    CORPUS,
    MAILGUN_KEY,
    SENDGRID_PRIVATE_KEY,
    SES_TOPIC,
    postmark_authorization,
)

REPO = Path(__file__).resolve().parents[2]
BOUNCES = REPO / "tests" / "data" / "bounces"
DEMO_EXCERPT_CHARS = 3000
PLACEHOLDERS = {
    "@@VERP@@": "b+c1d2.abcdefghij@bounces.example.org",
    "@@MSGID@@": "<c1.d2.0123456789abcdef@example.org>",
    "@@RCPT_LOCAL@@": "alice",
    "@@RCPT@@": "alice@example.net",
}


def _write(target: str, name: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def subscriber_csv() -> None:
    """CSV as Excel and people write it: UTF-8 with a BOM, GB18030, semicolons, tabs."""
    chinese = "\n".join(
        [
            "邮箱,姓名,单位,语言",
            "zhang@example.cn,张伟,大连数字贸易协会,中文",
            'li@例子.中国,"李, 娜",港务局,en',
            "bad-address,无名,,",
            "zhang@example.cn,重复,,",
        ]
    )
    for name, data in {
        "chinese-bom.csv": (chinese + "\n").encode("utf-8-sig"),
        "gb18030.csv": "邮箱,姓名\nwang@example.cn,王芳\n".encode("gb18030"),
        "semicolon.csv": b"email;name;organisation\nann@example.org;Ann;Harbour\nbob@x.org;Bob;\n",
        "tabs.csv": b"E-mail\tLang\tphone\nann@example.org\ten\t123\n",
        "bare-list.csv": b"ann@example.org\nbob@example.org\n",
        "quoted-newline.csv": b'email,name\n"ann@example.org","Ann\nTwo"\nbob@x.org,"=SUM(1)"\n',
    }.items():
        _write("subscriber_csv", name, data)


def subscriber_xlsx() -> None:
    """Two small workbooks, one with numbers and dates in its cells."""
    from datetime import datetime

    from openpyxl import Workbook

    for name, rows in {
        "people.xlsx": [["邮箱", "姓名", "单位"], ["zhang@example.cn", "张伟", "协会"]],
        "typed-cells.xlsx": [
            ["email", "member id", "joined"],
            ["ann@example.org", 1234.0, datetime(2026, 1, 2)],
            ["not an address", None, True],
        ],
    }.items():
        workbook = Workbook()
        sheet = workbook.active
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        _write("subscriber_xlsx", name, buffer.getvalue())


def issue_markdown() -> None:
    """The sample issues, and the start of the demo issue (masthead, TOC, first articles)."""
    for path in sorted(DATA.glob("*.md")):
        _write("issue_markdown", path.name, path.read_bytes())
    demo = DEMO_PATH.read_text(encoding="utf-8")[:DEMO_EXCERPT_CHARS]
    _write("issue_markdown", "demo-excerpt.md", demo.encode("utf-8"))


def issue_docx() -> None:
    """Word files: headings, bold pseudo-headings, a link, a picture, a source line."""
    _write(
        "issue_docx",
        "letter.docx",
        build_docx(
            [
                ("Title", [("Harbour Letter", False, None)]),
                (None, [("No. 3, 2026", False, None)]),
                ("Heading1", [("News", False, None)]),
                ("Heading2", [("A new quay opens", False, None)]),
                (None, [("The quay opened on ", False, None), ("Monday", True, None)]),
                (None, [("See ", False, None), ("the site", False, "https://example.org/q")]),
                (None, [("来源：港务局", False, None)]),
            ]
        ),
    )
    _write(
        "issue_docx",
        "picture.docx",
        build_docx(
            [
                ("Heading1", [("【专家观点】", False, None)]),
                ("Heading2", [("中国服务外包", False, None)]),
                (None, [("一张图", False, IMAGE)]),
                (None, [("**一、背景**", True, None)]),
            ]
        ),
    )


def bounces() -> None:
    """The hand-built bounce corpus: DSNs (and the rest) for one target, ARF for the other."""
    for path in sorted(BOUNCES.glob("*.eml")):
        data = path.read_bytes()
        for placeholder, value in PLACEHOLDERS.items():
            data = data.replace(placeholder.encode(), value.encode())
        _write("bounce_arf" if path.name.startswith("arf") else "bounce_dsn", path.name, data)
    # A second complaint: another feedback type, the report base64-encoded.
    report = base64.encodebytes(
        b"Feedback-Type: fraud\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n"
        b"Original-Rcpt-To: <bob@example.net>\nArrival-Date: Thu, 8 Mar 2026 14:00:00 EDT\n"
    )
    _write(
        "bounce_arf",
        "arf_fraud_base64.eml",
        b"From: <abuse@isp.example>\nTo: <fbl@example.org>\nSubject: FW: newsletter\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report;"
        b' boundary="b"\n\n--b\nContent-Type: text/plain\n\nA complaint.\n--b\n'
        b"Content-Type: message/feedback-report\nContent-Transfer-Encoding: base64\n\n"
        + report
        + b"--b\nContent-Type: text/rfc822-headers\n\n"
        b"Message-ID: <c1.d2.0123456789abcdef@example.org>\nTo: bob@example.net\n--b--\n",
    )


def _ses_notification(kind: str) -> dict[str, object]:
    mail = {
        "messageId": "ses-internal-id",
        "headers": [{"name": "Message-ID", "value": PLACEHOLDERS["@@MSGID@@"]}],
        "commonHeaders": {"messageId": PLACEHOLDERS["@@MSGID@@"]},
    }
    if kind == "Complaint":
        return {
            "notificationType": "Complaint",
            "complaint": {
                "feedbackId": "fb-2",
                "complaintFeedbackType": "abuse",
                "complainedRecipients": [{"emailAddress": "bob@example.net"}],
            },
            "mail": mail,
        }
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "feedbackId": "fb-1",
            "bouncedRecipients": [
                {
                    "emailAddress": "alice@example.net",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 no such user",
                }
            ],
        },
        "mail": mail,
    }


def webhooks() -> None:
    """Bodies shaped like each provider's (the webhook tests' shapes)."""
    for kind in ("Bounce", "Complaint"):
        envelope = {
            "Type": "Notification",
            "MessageId": f"sns-{kind.lower()}",
            "TopicArn": SES_TOPIC,
            "Timestamp": "2026-11-26T02:00:00.000Z",
            "SignatureVersion": "2",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService.pem",
            "Signature": base64.b64encode(b"\0" * 256).decode(),
            "Message": json.dumps(_ses_notification(kind)),
        }
        _write("webhook_ses", f"sns-{kind.lower()}.json", json.dumps(envelope).encode())
    _write("webhook_ses", "ses-event.json", json.dumps(_ses_notification("Bounce")).encode())
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "sns-confirm",
        "Token": "t0k3n",
        "TopicArn": SES_TOPIC,
        "Message": "You have chosen to subscribe",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": "2026-11-26T02:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "AAAA",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem",
    }
    _write("webhook_ses", "sns-confirmation.json", json.dumps(confirmation).encode())

    events = [
        {"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 unknown",
         "email": "alice@example.net", "sg_event_id": "sg-1", "smtp-id": "<c1.d2.ab@example.org>"},
        {"event": "bounce", "type": "blocked", "bounce_classification": "Reputation",
         "email": "bob@example.net", "sg_event_id": "sg-2"},
        {"event": "deferred", "email": "bob@example.net", "sg_event_id": "sg-3"},
        {"event": "spamreport", "email": "carol@example.net", "sg_event_id": "sg-4"},
        {"event": "group_unsubscribe", "email": "dave@example.net", "sg_event_id": "sg-5"},
        {"event": "open", "email": "erin@example.net", "sg_event_id": "sg-6"},
    ]  # fmt: skip
    body = json.dumps(events).encode()
    timestamp = str(int(time.time()))
    signature = SENDGRID_PRIVATE_KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    head = f"{base64.b64encode(signature).decode()} {timestamp}".encode()
    _write("webhook_sendgrid", "events.txt", head + b"\n" + body)

    for name, data in {
        "failed.json": {
            "id": "mg-1",
            "event": "failed",
            "severity": "permanent",
            "reason": "bounce",
            "recipient": "alice@example.net",
            "delivery-status": {"code": 550, "message": "5.1.1 The account does not exist"},
            "message": {"headers": {"message-id": "c1.d2.0123456789abcdef@example.org"}},
        },
        "complained.json": {"id": "mg-2", "event": "complained", "recipient": "bob@example.net"},
        "unsubscribed.json": {"id": "mg-3", "event": "unsubscribed", "recipient": "c@example.net"},
    }.items():
        token = hashlib.sha256(name.encode()).hexdigest()
        stamp = str(int(time.time()))
        digest = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256)
        signature_block = {"timestamp": stamp, "token": token, "signature": digest.hexdigest()}
        payload = {"signature": signature_block, "event-data": data}
        _write("webhook_mailgun", name, json.dumps(payload).encode())

    for name, record in {
        "hard-bounce.txt": {
            "RecordType": "Bounce",
            "ID": 4323372036854775807,
            "Type": "HardBounce",
            "Email": "alice@example.net",
            "Details": "smtp;550 5.1.1 The email account does not exist",
            "BouncedAt": "2026-11-26T02:10:00Z",
        },
        "spam-complaint.txt": {
            "RecordType": "SpamComplaint",
            "ID": 42,
            "Type": "SpamComplaint",
            "Email": "bob@example.net",
            "BouncedAt": "2026-11-26T02:10:00",
        },
    }.items():
        head = postmark_authorization().encode()
        _write("webhook_postmark", name, head + b"\n" + json.dumps(record).encode())


def main() -> None:
    """(Re)write every target's seeds."""
    subscriber_csv()
    subscriber_xlsx()
    issue_markdown()
    issue_docx()
    bounces()
    webhooks()


if __name__ == "__main__":
    main()
