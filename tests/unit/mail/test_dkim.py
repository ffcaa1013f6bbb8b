"""DKIM signing: every signature must verify with dkimpy, and tampering must break it."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from service.mail.dkim_sign import (
    SIGNED_HEADERS,
    DkimSigner,
    _relaxed_body,
    _relaxed_header,
    generate_key,
)
from service.mail.message import ListId, MessageBuilder, MessageParts
from tests import mail_dkim

DOMAIN = "news.example.org"
SELECTOR = "t2026"
DATE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
UNSUBSCRIBE = "https://n.example.org/u/Q1xq9TzG3l0bX2aV8r7pLw"
# Fields a replayer could add to one signed issue to change what it means before resending
# it (where replies go, which thread it joins, which list it claims, how it is decoded or
# filtered), whether the message has them or not.  Spelled out here, not taken from
# SIGNED_HEADERS, so that a name dropped from the signer fails a test.
REPLAYABLE_HEADERS = (
    "reply-to",
    "cc",
    "sender",
    "in-reply-to",
    "references",
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-help",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    "feedback-id",
    "precedence",
    "auto-submitted",
)
# What a replayer would put in the fields it adds; the rest get a placeholder value.
REPLAYED_VALUES = {
    "from": "=?utf-8?b?5Lit5Zu96LS45piT5Y2P5Lya?= <newsletter@news.example.net>",
    "reply-to": "office@news.example.net",
    "cc": "everyone@example.com",
    "sender": "newsletter@news.example.net",
    "in-reply-to": "<order-4711@news.example.org>",
    "references": "<order-4711@news.example.org>",
    "list-unsubscribe": "<https://news.example.net/u/1>",
}
CJK_HTML = "<p>" + "中国国际贸易促进委员会第四季度会员通讯，欢迎阅读。" * 400 + "</p>\n"


@pytest.fixture(scope="module")
def key() -> tuple[bytes, str]:
    """One RSA-2048 key pair for the module (generation takes ~100 ms)."""
    return generate_key()


@pytest.fixture(scope="module")
def signer(key: tuple[bytes, str]) -> DkimSigner:
    return DkimSigner(DOMAIN, SELECTOR, key[0])


@pytest.fixture(scope="module")
def dns(key: tuple[bytes, str]) -> Callable[..., bytes | None]:
    """A fake DNS TXT lookup that only knows our selector."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode():
            return key[1].encode()
        return None

    return lookup


def make_builder(**changes: object) -> MessageBuilder:
    """A builder for a Chinese newsletter campaign."""
    fields: dict[str, object] = {
        "from_name": "中国贸易协会",
        "from_addr": f"newsletter@{DOMAIN}",
        "reply_to": f"office@{DOMAIN}",
        "subject": "【会员通讯】2026 年第四季度 — Café résumé 🎉",
        "list_id": ListId("quarterly", f"list-id.{DOMAIN}", "中国贸易协会季刊"),
        "list_unsubscribe_mailto": f"unsubscribe@{DOMAIN}",
        "feedback_id": "q2026-4:newsletter:cta:tidings",
        "message_id_domain": DOMAIN,
    }
    fields.update(changes)
    return MessageBuilder(MessageParts(**fields))  # type: ignore[arg-type]


def make_message(html: str = "<p>你好</p>\n", **changes: object) -> bytes:
    """Build one recipient's message."""
    return make_builder(**changes).build(
        "member@example.com", "张三", html, "你好\n", UNSUBSCRIBE, f"<c1.d2.x@{DOMAIN}>", DATE
    )


def signature_tags(signed: bytes) -> dict[str, str]:
    """Return the tags of the first DKIM-Signature header, whitespace removed."""
    header = re.match(rb"DKIM-Signature:(.*?)\r\n(?![ \t])", signed, re.S)
    assert header is not None
    value = re.sub(r"\s+", "", header.group(1).decode())
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)


def test_dkimpy_verifies_our_signature(signer: DkimSigner, dns: Callable[..., bytes]) -> None:
    signed = signer.sign(make_message())

    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert dkim.verify(signed, dnsfunc=dns)


def test_dkimpy_verifies_our_signature_over_a_large_cjk_body(
    signer: DkimSigner, dns: Callable[..., bytes]
) -> None:
    message = make_message(CJK_HTML)
    assert len(message) > 40_000

    assert dkim.verify(signer.sign(message), dnsfunc=dns)


def test_fast_path_for_builder_output_signs_exactly_like_the_checked_path(
    signer: DkimSigner,
) -> None:
    message = make_message(CJK_HTML)

    fast = signer.sign(message, timestamp=1_795_000_000)
    checked = signer.sign(bytes(message), timestamp=1_795_000_000)

    assert type(message) is not bytes and type(bytes(message)) is bytes
    assert fast == checked


def test_our_body_hash_equals_dkimpys(signer: DkimSigner) -> None:
    message = make_message(CJK_HTML)

    assert (
        signature_tags(signer.sign(message))["bh"]
        == signature_tags(signer.sign_reference(message))["bh"]
    )


def test_h_tag_covers_list_unsubscribe_post_and_every_present_header(signer: DkimSigner) -> None:
    names = signature_tags(signer.sign(make_message()))["h"].split(":")

    assert "list-unsubscribe-post" in names
    assert names[:12] == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "reply-to",
        "feedback-id",
    ]


def test_h_tag_lists_the_present_headers_then_every_signed_name_once_more(
    signer: DkimSigner,
) -> None:
    message = make_message(reply_to=None, feedback_id=None)

    names = signature_tags(signer.sign(message))["h"].split(":")

    present = [name for name in SIGNED_HEADERS[:12] if name not in ("reply-to", "feedback-id")]
    assert names == present + list(SIGNED_HEADERS)
    # Absent: listed once, which signs that there is none.
    assert names.count("reply-to") == names.count("cc") == 1


def test_a_header_that_occurs_twice_is_listed_three_times_and_a_third_copy_fails(
    signer: DkimSigner, dns: Callable[..., bytes]
) -> None:
    message = b"From: a@news.example.org\r\nTo: b@example.com\r\nTo: c@example.com\r\n\r\nhi\r\n"

    signed = signer.sign(message)

    assert signature_tags(signed)["h"].split(":").count("to") == 3
    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(add_field(signed, b"To: d@example.com"), dnsfunc=dns)


def test_without_oversigning_only_the_present_headers_are_listed(key: tuple[bytes, str]) -> None:
    plain = DkimSigner(DOMAIN, SELECTOR, key[0], oversign=False)

    names = signature_tags(plain.sign(make_message()))["h"].split(":")

    assert names == list(SIGNED_HEADERS[:12])


def add_field(signed: bytes, field: bytes, *, at_bottom: bool = False) -> bytes:
    """`signed` with `field` (no CRLF) added below the DKIM-Signature, or last in the header.

    Where a replayer puts it makes no difference to an absent field; for a present one the
    two places make a verifier pick a different copy (RFC 6376 §5.4.2: bottom-up).
    """
    if at_bottom:
        at = signed.index(b"\r\n\r\n") + 2
    else:
        at = re.match(rb"DKIM-Signature:.*?\r\n(?![ \t])", signed, re.S).end()  # type: ignore[union-attr]
    return signed[:at] + field + b"\r\n" + signed[at:]


def replayed_field(name: str) -> bytes:
    """A field a replayer might add to a signed issue before resending it."""
    return f"{name.title()}: {REPLAYED_VALUES.get(name, 'replayed')}".encode()


def sender_message() -> bytes:
    """A message as the sender builds it for a campaign without a Reply-To."""
    return make_message(reply_to=None)


@pytest.mark.parametrize("at_bottom", [False, True], ids=["on-top", "at-the-bottom"])
@pytest.mark.parametrize("name", REPLAYABLE_HEADERS)
def test_a_replayed_copy_with_any_signed_header_added_fails_verification(
    signer: DkimSigner, dns: Callable[..., bytes], name: str, at_bottom: bool
) -> None:
    signed = signer.sign(sender_message())

    replayed = add_field(signed, replayed_field(name), at_bottom=at_bottom)

    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(replayed, dnsfunc=dns)


def test_mail_dkim_also_passes_the_signed_copy_and_fails_every_replayed_one(
    signer: DkimSigner, tmp_path: Path
) -> None:
    if not mail_dkim.available():
        pytest.skip(mail_dkim.SKIP_REASON)
    signed = signer.sign(sender_message())
    replayed = [add_field(signed, replayed_field(name)) for name in REPLAYABLE_HEADERS]
    replayed.append(add_field(signed, replayed_field("from"), at_bottom=True))

    results = mail_dkim.verify([signed, *replayed], signer.dns_name, signer.dns_txt_value, tmp_path)

    assert results[0] == "pass"
    assert results[1:] == ["fail"] * len(replayed)


def test_tampering_with_list_unsubscribe_breaks_verification(
    signer: DkimSigner, dns: Callable[..., bytes]
) -> None:
    signed = signer.sign(make_message())
    tampered = signed.replace(b"https://n.example.org/u/", b"https://n.example.org/x/")

    assert tampered != signed
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_tampering_with_the_body_breaks_verification(
    signer: DkimSigner, dns: Callable[..., bytes]
) -> None:
    signed = signer.sign(make_message(CJK_HTML))
    body_at = signed.index(b"\r\n\r\n") + 4
    index = signed.index(b"5Lit", body_at)  # base64 of 中
    tampered = signed[:index] + b"5Lix" + signed[index + 4 :]

    assert not dkim.verify(tampered, dnsfunc=dns)


def test_adding_a_second_list_unsubscribe_breaks_verification_thanks_to_oversigning(
    signer: DkimSigner, dns: Callable[..., bytes]
) -> None:
    signed = signer.sign(make_message())
    injected = add_field(signed, b"List-Unsubscribe: <https://evil.example/u>")

    assert not dkim.verify(injected, dnsfunc=dns)


def test_signature_header_is_folded_into_lines_of_at_most_78_characters(
    signer: DkimSigner,
) -> None:
    signed = signer.sign(make_message())
    header = re.match(rb"DKIM-Signature:.*?\r\n(?![ \t])", signed, re.S).group(0)  # type: ignore[union-attr]
    lines = header[:-2].split(b"\r\n")

    assert len(lines) > 3
    assert all(len(line) <= 78 for line in lines)
    assert all(line[:1] in (b" ", b"\t") for line in lines[1:])
    signature = base64.b64decode(signature_tags(signed)["b"])
    assert len(signature) == 256  # RSA-2048


def test_plain_bytes_with_lf_and_messy_whitespace_are_canonicalised_and_verify(
    signer: DkimSigner, dns: Callable[..., bytes]
) -> None:
    message = (
        b"From: a@news.example.org\n"
        b"To:  b@example.com \n"
        b"Subject:   hi   there \n\t folded\n"
        b"List-Unsubscribe: <https://n.example.org/u/x>\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
        b"\n"
        b"line  with\t tabs and   spaces  \n\n\n"
    )

    signed = signer.sign(message)

    assert signed.count(b"\n") == signed.count(b"\r\n")
    assert dkim.verify(signed, dnsfunc=dns)
    assert (
        signature_tags(signed)["bh"]
        == signature_tags(signer.sign_reference(signed[signed.index(b"From:") :]))["bh"]
    )


def test_a_message_without_a_body_can_be_signed(
    signer: DkimSigner, dns: Callable[..., bytes]
) -> None:
    signed = signer.sign(b"From: a@news.example.org\r\nSubject: empty\r\n\r\n")

    assert dkim.verify(signed, dnsfunc=dns)


def test_a_message_without_from_cannot_be_signed(signer: DkimSigner) -> None:
    with pytest.raises(ValueError, match="From"):
        signer.sign(b"Subject: x\r\n\r\nbody\r\n")


def test_dkimpy_reference_signature_includes_list_unsubscribe_post_and_verifies(
    signer: DkimSigner, dns: Callable[..., bytes]
) -> None:
    signed = signer.sign_reference(make_message())

    names = [name.strip() for name in signature_tags(signed)["h"].split(":")]
    assert "list-unsubscribe-post" in names
    assert dkim.verify(signed, dnsfunc=dns)


def test_dkimpy_reference_signature_lists_the_same_headers_as_ours(signer: DkimSigner) -> None:
    message = sender_message()

    assert (
        signature_tags(signer.sign_reference(message))["h"]
        == signature_tags(signer.sign(message))["h"]
    )


def test_relaxed_canonicalisation_matches_the_rfc_6376_example() -> None:
    # RFC 6376 §3.4.5.
    assert _relaxed_header(b"A: X") == b"a:X"
    assert _relaxed_header(b"B : Y\t\r\n\tZ  ") == b"b:Y Z"
    assert _relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"
    assert _relaxed_body(b"") == b""
    assert _relaxed_body(b"\r\n\r\n") == b""


def test_generate_key_returns_a_pem_and_a_dkim_txt_record() -> None:
    pem, txt = generate_key()

    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert re.fullmatch(r"v=DKIM1; k=rsa; p=[A-Za-z0-9+/]+=*", txt)
    assert DkimSigner(DOMAIN, SELECTOR, pem.decode()).dns_txt_value == txt


def test_keys_that_receivers_would_not_accept_are_refused() -> None:
    ed_pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="RSA"):
        DkimSigner(DOMAIN, SELECTOR, ed_pem)
    with pytest.raises(ValueError, match="1024"):
        generate_key(512)


def test_an_idn_signing_domain_is_signed_as_an_a_label(key: tuple[bytes, str]) -> None:
    signer = DkimSigner("例子.中国", SELECTOR, key[0])

    assert signer.domain == "xn--fsqu00a.xn--fiqs8s"
    assert signer.dns_name == f"{SELECTOR}._domainkey.xn--fsqu00a.xn--fiqs8s"


def test_cached_canonical_fields_stay_bounded_and_every_signature_still_verifies(
    key: tuple[bytes, str], dns: Callable[..., bytes]
) -> None:
    from service.mail.dkim_sign import CANONICAL_CACHE

    fresh = DkimSigner(DOMAIN, SELECTOR, key[0])
    builder = make_builder()
    for n in range(CANONICAL_CACHE + 20):  # distinct To and Message-ID per message
        message = builder.build(
            f"m{n}@example.com",
            f"会员{n}",
            "<p>你好</p>\n",
            "你好\n",
            UNSUBSCRIBE,
            f"<c1.d{n}.x@{DOMAIN}>",
            DATE,
        )
        signed = fresh.sign(message, timestamp=1_790_000_000)
        if n in (0, 1, CANONICAL_CACHE + 19):  # first, from the cache, after it filled up
            assert dkim.verify(signed, dnsfunc=dns)
            # A signer with nothing cached signs the same bytes the same way.
            empty = DkimSigner(DOMAIN, SELECTOR, key[0])
            assert signed == empty.sign(message, timestamp=1_790_000_000)
    assert len(fresh._canonical) == CANONICAL_CACHE
    # Every message of the campaign has the same signed fields: one layout for all.
    assert len(fresh._layouts) == 1


def test_a_timestamp_of_another_length_gets_its_own_layout_and_still_verifies(
    key: tuple[bytes, str], dns: Callable[..., bytes]
) -> None:
    fresh = DkimSigner(DOMAIN, SELECTOR, key[0])
    message = make_message()

    short = fresh.sign(message, timestamp=86_400)
    now = fresh.sign(message)

    assert signature_tags(short)["t"] == "86400"
    assert dkim.verify(short, dnsfunc=dns) and dkim.verify(now, dnsfunc=dns)
    assert len(fresh._layouts) == 2
