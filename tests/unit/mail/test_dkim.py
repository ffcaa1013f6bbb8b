"""DKIM signing: every signature must verify with dkimpy, and tampering must break it."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from service.mail.dkim_sign import (
    DkimSigner,
    _relaxed_body,
    _relaxed_header,
    generate_key,
)
from service.mail.message import ListId, MessageBuilder, MessageParts

DOMAIN = "news.example.org"
SELECTOR = "t2026"
DATE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
UNSUBSCRIBE = "https://n.example.org/u/Q1xq9TzG3l0bX2aV8r7pLw"
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


def test_h_tag_lists_only_headers_present_in_the_message(signer: DkimSigner) -> None:
    message = make_message(reply_to=None, feedback_id=None)

    names = signature_tags(signer.sign(message))["h"].split(":")

    assert "reply-to" not in names
    assert "feedback-id" not in names


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
    sig_end = re.match(rb"DKIM-Signature:.*?\r\n(?![ \t])", signed, re.S).end()  # type: ignore[union-attr]
    injected = (
        signed[:sig_end] + b"List-Unsubscribe: <https://evil.example/u>\r\n" + signed[sig_end:]
    )

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
