"""The per-recipient message builder: headers, encodings, bodies and the stock reference."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import random
import re
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from service.mail.message import Envelope, ListId, MessageBuilder, MessageParts
from service.mail.message_addresses import NeedsSMTPUTF8, encode_address
from service.mail.message_bodies import MessageBytes, normalize_crlf
from service.mail.message_headers import encode_words
from service.mail.message_ids import message_id_for, parse_message_id
from service.mail.policy import (
    POLICY,
    HeaderInjectionError,
    sanitize_header_value,
)

SECRET = b"unit-test-secret"
DATE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
UNSUBSCRIBE = "https://n.example.org/u/Q1xq9TzG3l0bX2aV8r7pLw"
HTML = "<html><body><h1>季刊</h1><p>中国贸易协会 — Café résumé 🎉</p></body></html>\r\n"
TEXT = "季刊\r\n中国贸易协会 — Café résumé 🎉\r\n"
ENCODED_WORD = re.compile(r"=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=")

SUBJECTS = {
    "pure_cjk": "中国国际贸易促进委员会二〇二六年第四季度会员通讯：跨境电商新规与广交会参展指南",
    "long_mixed": (
        "【会员通讯】2026 年第四季度 Quarterly Newsletter — Café résumé, naïve façade, "
        "Zürich & São Paulo 贸易展览会 Ångström Ærø Œuvre 最新政策解读 and much more news"
    ),
    "emoji": "🎉 新年快乐 Happy New Year 🧧🐉 恭喜发财 👨‍👩‍👧‍👦 🇨🇳",
    "ascii": "Quarterly newsletter: trade fair dates, new customs rules and member news",
    "ascii_long_word": "See https://example.org/" + "x" * 120 + " for details",
    "ascii_with_encoded_word_lookalike": "Literal =?utf-8?b?QQ==?= text",
    "leading_and_double_spaces": "  two  spaces 中文",
}


def make_parts(**changes: object) -> MessageParts:
    """Return the campaign parts used by most tests, with `changes` applied."""
    parts = MessageParts(
        from_name="中国贸易协会",
        from_addr="newsletter@news.example.org",
        reply_to="office@news.example.org",
        subject=SUBJECTS["pure_cjk"],
        list_id=ListId("quarterly", "list-id.news.example.org", "中国贸易协会季刊"),
        list_unsubscribe_mailto="unsubscribe@news.example.org",
        feedback_id="q2026-4:newsletter:cta:tidings",
        message_id_domain="news.example.org",
    )
    return dataclasses.replace(parts, **changes)  # type: ignore[arg-type]


def build(builder: MessageBuilder, **changes: object) -> bytes:
    """Build one message with default recipient values, overridden by `changes`."""
    args: dict[str, object] = {
        "to_addr": "member@example.com",
        "to_name": "张三",
        "html": HTML,
        "text": TEXT,
        "unsubscribe_url": UNSUBSCRIBE,
        "message_id": message_id_for(3456, 12, SECRET, "news.example.org"),
        "date": DATE,
    }
    args.update(changes)
    return builder.build(**args)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    """Parse message bytes the way a modern client would."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def header_lines(raw: bytes) -> list[bytes]:
    """Return the physical lines of the top-level header block."""
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def bodies(msg: EmailMessage) -> list[tuple[str, str]]:
    """Return (content type, decoded content) for each part of a multipart message."""
    return [(part.get_content_type(), part.get_content()) for part in msg.iter_parts()]


@pytest.fixture()
def builder() -> MessageBuilder:
    """A builder for the default campaign parts."""
    return MessageBuilder(make_parts())


def test_built_message_parses_back_with_every_expected_header(builder: MessageBuilder) -> None:
    msg = parse(build(builder))

    assert str(msg["From"]) == "中国贸易协会 <newsletter@news.example.org>"
    assert str(msg["To"]) == "张三 <member@example.com>"
    assert str(msg["Subject"]) == SUBJECTS["pure_cjk"]
    assert str(msg["Date"]) == "Thu, 26 Nov 2026 11:00:00 +0800"
    assert re.fullmatch(r"<c12\.d3456\.[0-9a-f]{12}@news\.example\.org>", str(msg["Message-ID"]))
    assert str(msg["MIME-Version"]) == "1.0"
    assert msg.get_content_type() == "multipart/alternative"
    assert str(msg["Reply-To"]) == "office@news.example.org"
    assert str(msg["List-Id"]) == "中国贸易协会季刊 <quarterly.list-id.news.example.org>"
    assert str(msg["List-Unsubscribe"]) == (
        f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@news.example.org?subject=unsubscribe"
        f"%20{UNSUBSCRIBE.rsplit('/', 1)[-1]}>"
    )
    assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(msg["Feedback-ID"]) == "q2026-4:newsletter:cta:tidings"
    assert msg.defects == []


def test_build_returns_message_bytes_with_crlf_line_endings_only(builder: MessageBuilder) -> None:
    raw = build(builder)

    assert type(raw) is MessageBytes
    assert raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r")
    assert raw.isascii()


def test_built_and_stock_reference_messages_parse_back_equal(builder: MessageBuilder) -> None:
    ours = parse(build(builder))
    reference = parse(
        builder.build_reference(
            "member@example.com",
            "张三",
            HTML,
            TEXT,
            UNSUBSCRIBE,
            message_id_for(3456, 12, SECRET, "news.example.org"),
            DATE,
        )
    )

    def comparable(msg: EmailMessage) -> dict[str, str]:
        # The MIME boundaries are random, so compare Content-Type without its parameters.
        headers = {name.lower(): str(value) for name, value in msg.items()}
        headers["content-type"] = msg.get_content_type()
        return headers

    assert comparable(ours) == comparable(reference)
    assert len(ours.keys()) == len(reference.keys())
    assert bodies(ours) == bodies(reference)


def test_smtputf8_reference_parses_back_equal_to_the_fast_path(builder: MessageBuilder) -> None:
    args = ("张三@例子.中国", "张三", HTML, TEXT, UNSUBSCRIBE, "<x@news.example.org>", DATE)

    ours = parse(builder.build(*args, smtputf8=True))
    reference = parse(builder.build_reference(*args, smtputf8=True))

    assert str(ours["To"]) == str(reference["To"]) == "张三 <张三@xn--fsqu00a.xn--fiqs8s>"
    assert bodies(ours) == bodies(reference)


@pytest.mark.parametrize("subject", SUBJECTS.values(), ids=SUBJECTS.keys())
def test_subject_round_trips_exactly(subject: str) -> None:
    raw = build(MessageBuilder(make_parts(subject=subject)))

    assert str(parse(raw)["Subject"]) == subject


@pytest.mark.parametrize("subject", SUBJECTS.values(), ids=SUBJECTS.keys())
def test_header_lines_respect_rfc_5322_and_rfc_2047_limits(subject: str) -> None:
    raw = build(MessageBuilder(make_parts(subject=subject)), to_name="王小明 Wáng Xiǎomíng 🐉")

    for line in header_lines(raw):
        assert len(line) <= 998
        if b"=?" in line and b"?=" in line:
            assert len(line) <= 76, line
    assert b"?==?" not in raw
    for word in ENCODED_WORD.finditer(raw.decode("ascii")):
        assert len(word.group(0)) <= 75
        # Each word holds whole characters: it must decode as UTF-8 on its own.
        base64.b64decode(word.group(1)).decode("utf-8")


def test_random_mixed_subjects_round_trip_within_the_limits() -> None:
    rng = random.Random(20261126)
    alphabet = list("中国贸易协会季刊新闻abcXYZ 0123éèüñÅæœ—–…“”🎉🧧🐉\u200d,.:;!?()[]\"'=_")
    for _ in range(150):
        subject = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 160))).strip()
        if not subject:
            continue
        raw = build(MessageBuilder(make_parts(subject=subject)))
        assert str(parse(raw)["Subject"]) == subject
        assert b"?==?" not in raw
        assert all(len(line) <= 998 for line in header_lines(raw))
        assert all(len(w) <= 75 for w in ENCODED_WORD.findall(raw.decode("ascii")))


def test_encode_words_never_splits_a_multibyte_character() -> None:
    text = "🎉" * 40 + "中" * 40 + "é" * 40

    words = encode_words(text, first_budget=20)

    decoded = [base64.b64decode(ENCODED_WORD.fullmatch(w).group(1)) for w in words]  # type: ignore[union-attr]
    assert "".join(part.decode("utf-8") for part in decoded) == text
    assert len(words[0]) <= 20
    assert all(len(word) <= 75 for word in words)


def test_list_unsubscribe_with_a_120_character_url_stays_intact_on_one_line(
    builder: MessageBuilder,
) -> None:
    url = "https://n.example.org/u/" + "A1b2C3d4E5" * 9 + "x" * 6
    assert len(url) == 120
    expected = (
        f"List-Unsubscribe: <{url}>, "
        f"<mailto:unsubscribe@news.example.org?subject=unsubscribe%20{'A1b2C3d4E5' * 9}xxxxxx>"
    ).encode()

    for raw in (
        build(builder, unsubscribe_url=url),
        builder.build_reference(
            "member@example.com", "张三", HTML, TEXT, url, "<a@news.example.org>", DATE
        ),
    ):
        assert expected in header_lines(raw)
        assert str(parse(raw)["List-Unsubscribe"]) == expected.decode()[len("List-Unsubscribe: ") :]


def test_list_unsubscribe_without_mailto_has_only_the_https_uri() -> None:
    raw = build(MessageBuilder(make_parts(list_unsubscribe_mailto=None)))

    assert f"List-Unsubscribe: <{UNSUBSCRIBE}>".encode() in header_lines(raw)


def test_unsubscribe_url_must_be_http_or_https_without_spaces(builder: MessageBuilder) -> None:
    for bad in ("ftp://n.example.org/u/x", "https://n.example.org/u/a b", "https://x/<y>"):
        with pytest.raises(ValueError):
            build(builder, unsubscribe_url=bad)


def test_an_http_unsubscribe_url_is_kept_without_claiming_one_click(
    builder: MessageBuilder,
) -> None:
    # RFC 8058 one-click is for https only; on a machine without TLS the link still works.
    msg = parse(build(builder, unsubscribe_url="http://127.0.0.1:8101/unsubscribe/x"))
    assert str(msg["List-Unsubscribe"]).startswith("<http://127.0.0.1:8101/unsubscribe/x>")
    assert msg["List-Unsubscribe-Post"] is None


def test_each_header_appears_exactly_once(builder: MessageBuilder) -> None:
    msg = parse(build(builder))

    names = [name.lower() for name in msg]
    assert sorted(names) == sorted(set(names))
    assert set(names) == {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "mime-version",
        "content-type",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "feedback-id",
    }


def test_optional_headers_are_left_out_when_not_configured() -> None:
    parts = make_parts(reply_to=None, feedback_id=None, list_id=ListId("q", "example.org"))
    msg = parse(build(MessageBuilder(parts)))

    assert msg["Reply-To"] is None
    assert msg["Feedback-ID"] is None
    assert str(msg["List-Id"]) == "<q.example.org>"


def test_extra_headers_are_written_once_and_may_not_repeat_managed_ones() -> None:
    parts = make_parts(extra_headers=(("X-Campaign", "q2026-4"), ("X-Note", "季刊")))
    msg = parse(build(MessageBuilder(parts)))
    assert str(msg["X-Campaign"]) == "q2026-4"
    assert str(msg["X-Note"]) == "季刊"

    for extra in ((("List-Unsubscribe", "<https://x>"),), (("X-A", "1"), ("x-a", "2"))):
        with pytest.raises(ValueError):
            MessageBuilder(make_parts(extra_headers=extra))


def test_date_has_the_plus_0800_zone_for_asia_shanghai(builder: MessageBuilder) -> None:
    explicit = parse(build(builder))
    defaulted = parse(build(builder, date=None))

    assert str(explicit["Date"]).endswith(" +0800")
    assert str(defaulted["Date"]).endswith(" +0800")
    assert explicit["Date"].datetime == DATE


def test_a_naive_date_is_rejected_as_ambiguous(builder: MessageBuilder) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build(builder, date=datetime(2026, 11, 26, 11, 0))


@pytest.mark.parametrize("bad", ["Hi\r\nBcc: victim@example.org", "Hi\nX: y", "Hi\rX", "a\x00b"])
def test_cr_lf_or_nul_in_the_subject_is_rejected_as_header_injection(bad: str) -> None:
    with pytest.raises(HeaderInjectionError, match="header injection"):
        MessageBuilder(make_parts(subject=bad))


def test_cr_lf_in_a_display_name_is_rejected_as_header_injection(
    builder: MessageBuilder,
) -> None:
    with pytest.raises(HeaderInjectionError):
        build(builder, to_name="Mallory\r\nBcc: victim@example.org")
    with pytest.raises(HeaderInjectionError):
        MessageBuilder(make_parts(from_name="Evil\nBcc: x@example.org"))
    with pytest.raises(HeaderInjectionError):
        MessageBuilder(make_parts(extra_headers=(("X-A", "1\r\nBcc: x@example.org"),)))


def test_header_injection_error_is_a_value_error() -> None:
    assert issubclass(HeaderInjectionError, ValueError)
    assert sanitize_header_value("Subject", "季刊 ok") == "季刊 ok"


def test_non_ascii_display_name_is_an_encoded_phrase_that_keeps_the_address(
    builder: MessageBuilder,
) -> None:
    raw = build(builder)
    from_line = next(line for line in header_lines(raw) if line.startswith(b"From: "))

    assert from_line.endswith(b"?= <newsletter@news.example.org>")
    address = parse(raw)["From"].addresses[0]
    assert (address.display_name, address.addr_spec) == (
        "中国贸易协会",
        "newsletter@news.example.org",
    )


@pytest.mark.parametrize(
    "name",
    ['Smith, John "JJ" (Sales)', "Ünïcödé Name", "O'Brien", "", None, "a" * 250],
)
def test_display_names_round_trip(builder: MessageBuilder, name: str | None) -> None:
    to = parse(build(builder, to_name=name))["To"].addresses[0]

    assert to.display_name == (name or "")
    assert to.addr_spec == "member@example.com"


def test_idn_domains_are_written_as_a_labels() -> None:
    builder = MessageBuilder(
        make_parts(from_addr="newsletter@例子.中国", list_id=ListId("q", "例子.中国"))
    )
    raw = build(builder, to_addr="member@bücher.example")
    msg = parse(raw)

    assert msg["To"].addresses[0].domain == "xn--bcher-kva.example"
    assert msg["From"].addresses[0].domain == "xn--fsqu00a.xn--fiqs8s"
    assert "<q.xn--fsqu00a.xn--fiqs8s>" in str(msg["List-Id"])
    assert encode_address("a@BÜCHER.example") == "a@xn--bcher-kva.example"


def test_non_ascii_local_part_raises_needs_smtputf8(builder: MessageBuilder) -> None:
    with pytest.raises(NeedsSMTPUTF8, match="SMTPUTF8"):
        build(builder, to_addr="张三@例子.中国")
    with pytest.raises(NeedsSMTPUTF8):
        encode_address("josé@example.com")
    assert issubclass(NeedsSMTPUTF8, ValueError)


def test_smtputf8_writes_a_raw_utf8_to_header() -> None:
    raw = build(MessageBuilder(make_parts()), to_addr="张三@例子.中国", smtputf8=True)

    assert "To: 张三 <张三@xn--fsqu00a.xn--fiqs8s>\r\n".encode() in raw
    # (Python's parser keeps 8-bit local parts as surrogates in .addresses; str() decodes.)
    assert str(parse(raw)["To"]) == "张三 <张三@xn--fsqu00a.xn--fiqs8s>"


@pytest.mark.parametrize("addr", ["no-at-sign", "@example.com", '"quoted"@example.com', "a@b c"])
def test_malformed_addresses_are_rejected(builder: MessageBuilder, addr: str) -> None:
    with pytest.raises(ValueError):
        build(builder, to_addr=addr)


def test_base64_bodies_decode_to_the_exact_text_and_html(builder: MessageBuilder) -> None:
    msg = parse(build(builder))

    assert bodies(msg) == [("text/plain", TEXT), ("text/html", HTML)]
    for part in msg.iter_parts():
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part.get_content_charset() == "utf-8"
        assert part.get_payload(decode=True) == part.get_content().encode("utf-8")


def test_bodies_are_sent_with_crlf_line_breaks_and_a_final_crlf(builder: MessageBuilder) -> None:
    msg = parse(build(builder, html="<p>一</p>\n<p>二</p>", text="一\n二\r三\r\n"))

    assert bodies(msg) == [
        ("text/plain", "一\r\n二\r\n三\r\n"),
        ("text/html", "<p>一</p>\r\n<p>二</p>\r\n"),
    ]


def test_large_cjk_body_uses_76_character_base64_lines(builder: MessageBuilder) -> None:
    html = "<p>" + "中国贸易协会季刊。" * 3000 + "</p>\r\n"
    raw = build(builder, html=html)
    body = raw.split(b"\r\n\r\n", 1)[1]

    lines = body.split(b"\r\n")
    assert max(len(line) for line in lines) == 76
    assert bodies(parse(raw))[1] == ("text/html", html)


def test_message_id_is_deterministic_traceable_and_keyed() -> None:
    first = message_id_for(3456, 12, SECRET, "news.example.org")

    assert first == message_id_for(3456, 12, SECRET, "news.example.org")
    assert first.startswith("<c12.d3456.") and first.endswith("@news.example.org>")
    assert first != message_id_for(3456, 12, b"other-secret", "news.example.org")
    assert first != message_id_for(3457, 12, SECRET, "news.example.org")
    assert parse_message_id(first, SECRET, "news.example.org") == (12, 3456)


def test_forged_or_foreign_message_ids_do_not_parse() -> None:
    real = message_id_for(3456, 12, SECRET, "news.example.org")
    forged = real.replace("d3456", "d3457")

    assert parse_message_id(forged, SECRET, "news.example.org") is None
    assert parse_message_id(real, b"other-secret", "news.example.org") is None
    assert parse_message_id(real, SECRET, "other.example.org") is None
    assert parse_message_id("<random@news.example.org>", SECRET, "news.example.org") is None


def test_message_id_without_angle_brackets_is_accepted_and_bad_ones_rejected(
    builder: MessageBuilder,
) -> None:
    assert str(parse(build(builder, message_id="x.1@news.example.org"))["Message-ID"]) == (
        "<x.1@news.example.org>"
    )
    for bad in ("<no-at-sign>", "<a b@c>", "<中@c>"):
        with pytest.raises(ValueError):
            build(builder, message_id=bad)


def test_envelope_and_parts_are_immutable() -> None:
    envelope = Envelope(mail_from="b+1.abc@bounces.example.org", rcpt="member@example.com")

    with pytest.raises(dataclasses.FrozenInstanceError):
        envelope.rcpt = "other@example.com"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_parts().subject = "changed"  # type: ignore[misc]


def test_newsletter_policy_keeps_a_long_list_unsubscribe_on_one_line() -> None:
    url = "https://n.example.org/u/" + "x" * 100
    msg = EmailMessage(policy=POLICY)
    msg["From"] = "a@example.org"
    msg["Subject"] = SUBJECTS["pure_cjk"]
    msg["List-Unsubscribe"] = f"<{url}>"
    msg.set_content("中文正文", cte="base64")

    raw = msg.as_bytes()

    assert f"List-Unsubscribe: <{url}>".encode() in header_lines(raw)
    assert b"=?utf-8?" in raw  # the Subject is still encoded and folded as usual
    assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")


def test_newsletter_policy_rejects_non_ascii_and_injection_in_no_fold_headers() -> None:
    msg = EmailMessage(policy=POLICY)
    with pytest.raises(ValueError, match="ASCII"):
        msg["List-Id"] = "中文 <q.example.org>"
    with pytest.raises(HeaderInjectionError):
        msg["Subject"] = "Hi\r\nBcc: victim@example.org"
    with pytest.raises(ValueError, match="998"):
        msg["List-Unsubscribe"] = "<https://x.org/" + "y" * 1000 + ">"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a\nb\n", b"a\r\nb\r\n"),
        (b"a\r\nb\r\n", b"a\r\nb\r\n"),
        (b"a\rb\r\nc\nd", b"a\r\nb\r\nc\r\nd"),
        (b"a\n\rb", b"a\r\n\r\nb"),
        (b"", b""),
    ],
)
def test_normalize_crlf_turns_every_line_break_into_crlf(raw: bytes, expected: bytes) -> None:
    assert normalize_crlf(raw) == expected


def test_bodies_already_in_crlf_are_sent_unchanged(builder: MessageBuilder) -> None:
    html = "<p>一</p>\r\n" * 500

    assert bodies(parse(build(builder, html=html)))[1] == ("text/html", html)
