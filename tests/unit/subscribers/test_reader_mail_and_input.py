"""The confirmation mail bytes and the reader input rules (no database, no network)."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from service.config import load_settings
from service.mail.policy import HeaderInjectionError
from service.mail.templating import PREHEADER_STYLE
from service.mail.transactional import build_button_mail
from service.model import MailingList
from service.subscribers.confirmation import build_confirmation
from service.subscribers.public_lists import embed_snippet
from service.subscribers.subscriptions import SubscriptionInputError, clean_language, clean_text


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings(
        {
            "TIDINGS_DATA_DIR": str(tmp_path),
            "TIDINGS_SECRET_KEY": "unit-secret-key-0123456789",
            "TIDINGS_FROM": "大连市数字贸易协会 <news@example.org>",
            "TIDINGS_BASE_URL": "https://n.example.org",
        }
    )


def _build(settings, **overrides):  # type: ignore[no-untyped-def]
    values = {
        "to_email": "li@例子.中国",
        "language": "zh-CN",
        "list_name": "会刊 & <季刊>",
        "confirm_url": "https://n.example.org/confirm/AbC_123-xyz",
    }
    values.update(overrides)
    return build_confirmation(settings, **values)


def test_the_confirmation_mail_is_multipart_text_then_html_base64_with_encoded_headers(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    mail = _build(settings)
    assert mail.rcpt == "li@xn--fsqu00a.xn--fiqs8s"  # IDN domain as A-labels on the wire
    assert mail.mail_from == "news@example.org"
    raw = mail.data
    assert raw.isascii() and b"\r\n" in raw and b"?==?" not in raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert b"List-Unsubscribe" not in raw
    assert b"Auto-Submitted: auto-generated" in raw
    assert b"@example.org>" in head.split(b"Message-ID:")[1].split(b"\r\n")[0]
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "请确认订阅《会刊 & <季刊>》"
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p["Content-Transfer-Encoding"] == "base64" for p in parts)
    html = parts[1].get_content()
    assert "https://n.example.org/confirm/AbC_123-xyz" in html
    assert "会刊 &amp; &lt;季刊&gt;" in html
    assert 'lang="zh-CN"' in html
    assert "72" in parts[0].get_content()
    # The preview text, hidden first in the body (not the 1px background-coloured text of
    # <mj-preview>, which SpamAssassin scores as hidden spam text).
    assert f'<div style="{PREHEADER_STYLE}">点击链接确认订阅，72 小时内有效。</div>' in html


def test_the_confirmation_mail_is_written_in_the_subscribers_language(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    msg = message_from_bytes(_build(settings, language="en").data, policy=policy.default)
    assert msg["Subject"] == "Please confirm your subscription to 会刊 & <季刊>"
    text = next(msg.iter_parts()).get_content()
    assert "Confirm my subscription" in text and "72 hours" in text


def test_a_line_break_in_a_name_never_reaches_a_header_of_a_button_mail(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    strings = dict.fromkeys(
        ("subject", "preheader", "greeting", "body", "button", "validity", "ignore", "fallback"),
        "x",
    )
    with pytest.raises(HeaderInjectionError):
        build_button_mail(
            settings,
            to_email="li@example.org",
            to_name="Eve\r\nBcc: victim@example.com",
            strings=strings,
            lang="en",
            button_url="https://n.example.org/preferences/x",
            kind="preferences",
        )


@pytest.mark.parametrize("bad", ["a\r\nb", "a\nb", "a\rb", "a\x00b"])
def test_names_with_line_breaks_or_nul_are_refused_with_a_clear_message(bad: str) -> None:
    with pytest.raises(SubscriptionInputError, match="line breaks"):
        clean_text(bad, "name")


def test_names_keep_html_as_typed_drop_other_control_characters_and_are_length_checked() -> None:
    assert clean_text('  <script>alert("x")</script> ', "name") == '<script>alert("x")</script>'
    assert clean_text("a\tb\x07c", "name") == "a\tbc"
    with pytest.raises(SubscriptionInputError):
        clean_text("x" * 201, "organisation")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("zh", "zh-CN"),
        ("zh-cn", "zh-CN"),
        ("", "zh-CN"),
        ("fr", "zh-CN"),
    ],
)
def test_languages_map_to_the_two_we_write_in(given: str, expected: str) -> None:
    assert clean_language(given) == expected


def test_the_embed_snippet_is_a_plain_form_posting_to_the_lists_url_with_names_escaped() -> None:
    mailing_list = MailingList(id=3, slug="quarterly", name='Q"uarterly <i>', double_opt_in=True)
    html = embed_snippet("https://n.example.org/", mailing_list)
    assert '<form method="post" action="https://n.example.org/subscribe/quarterly"' in html
    assert "<script" not in html
    assert "Q&quot;uarterly &lt;i&gt;" in html
    for field in ('name="email"', 'name="name"', 'name="organisation"', 'name="website"'):
        assert field in html
