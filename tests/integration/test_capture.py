"""The local SMTP capture: a real SMTP server whose mail shows up in the Outbox."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from flask.testing import FlaskClient

from service.mail.capture import CaptureStore


def _send(store: CaptureStore, subject: str, html: str | None = None) -> None:
    msg = EmailMessage()
    msg["From"] = "大连市数字贸易协会 <news@example.org>"
    msg["To"] = "member@example.org"
    msg["Subject"] = subject
    msg.set_content("纯文本正文")
    if html:
        msg.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", store.port, timeout=10) as smtp:  # type: ignore[attr-defined]
        smtp.send_message(msg, from_addr="b+1.abc@bounces.example.org")


def test_a_message_sent_with_smtplib_is_stored_byte_for_byte(capture: CaptureStore) -> None:
    before = set(capture.ids())
    _send(capture, "测试邮件 capture")
    new = [i for i in capture.ids() if i not in before]
    assert len(new) == 1
    summary = capture.summary(new[0])
    assert summary.subject == "测试邮件 capture"
    assert summary.mail_from == "b+1.abc@bounces.example.org"
    assert summary.rcpt_tos == ["member@example.org"]
    assert b"Subject: =?utf-8?" in capture.raw(new[0])


def test_the_outbox_lists_and_opens_a_captured_message(
    logged_in: FlaskClient, capture: CaptureStore
) -> None:
    _send(capture, "第一期 Outbox 测试", html="<p>你好 <b>会员</b></p><script>x()</script>")
    newest = capture.ids()[0]
    listing = logged_in.get("/outbox").get_data(as_text=True)
    assert "第一期 Outbox 测试" in listing and f"/outbox/{newest}" in listing
    page = logged_in.get(f"/outbox/{newest}").get_data(as_text=True)
    assert "纯文本正文" in page and "b+1.abc@bounces.example.org" in page
    assert "sandbox=" in page
    html = logged_in.get(f"/outbox/{newest}/html")
    assert "你好" in html.get_data(as_text=True)
    assert "script-src 'none'" in html.headers["Content-Security-Policy"]
    raw = logged_in.get(f"/outbox/{newest}.eml")
    assert raw.mimetype == "message/rfc822" and raw.data == capture.raw(newest)


def test_a_mangled_outbox_id_is_a_404_not_a_path(logged_in: FlaskClient) -> None:
    assert logged_in.get("/outbox/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert logged_in.get("/outbox/0000000000000000000-deadbeef").status_code == 404
