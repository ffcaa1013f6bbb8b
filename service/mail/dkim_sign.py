"""DKIM signing (RFC 6376, rsa-sha256, relaxed/relaxed) fast enough for bulk sending.

dkimpy does RSA in pure Python and parses the PEM key on every call: about 6-7 ms for a
46 KiB message (STANDARDS.md §5).  `DkimSigner` loads the key once with `cryptography`
(OpenSSL RSA), and implements relaxed header and body canonicalisation itself, with a fast
path for the bytes `MessageBuilder` writes (CRLF, no tabs, no runs of spaces), so signing
a 60 KB message costs a fraction of a millisecond.  `sign_reference()` keeps the dkimpy
path for tests and benchmarks; the tests check that dkimpy verifies every signature made
here.

Sign the exact bytes handed to SMTP, after the last header edit (STANDARDS §5).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from typing import NamedTuple

import idna
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from service.mail.message_bodies import MessageBytes, normalize_crlf

__all__ = [
    "DEFAULT_KEY_BITS",
    "MIN_KEY_BITS",
    "SIGNED_HEADERS",
    "DkimSigner",
    "generate_key",
]

# RSA-2048: Gmail and Microsoft do not verify Ed25519, RSA-4096 is 6x slower and too long
# for some DNS control panels (STANDARDS §5).
DEFAULT_KEY_BITS = 2048
# RFC 8301 §3.2: verifiers MUST NOT consider signatures with keys under 1024 bits valid.
MIN_KEY_BITS = 1024
# The signed header set, in h= order.  dkimpy's default set lacks list-unsubscribe-post,
# which breaks RFC 8058 §4 one-click (STANDARDS §5).  Absent ones are signed too (below),
# so this lists every field a replayer could add to change what a reader or a mailbox
# provider makes of the message: where replies go (Reply-To, Cc, Sender), which thread it
# joins (In-Reply-To, References), the list it claims to come from (List-*), how it is
# decoded (Content-Transfer-Encoding) and how filters treat it (Precedence,
# Auto-Submitted).  Every one is listed in h= once more than it occurs (`_plan`), which
# signs its absence (RFC 6376 §5.4.2, §8.15): a copy added later breaks the signature, so
# no one holding a signed issue can add a Reply-To or a second From and resend it.  Bcc
# is left out: dkimpy refuses to sign it, and a Bcc added to a copy shows its reader
# nothing.
SIGNED_HEADERS = (
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
    "cc",
    "sender",
    "in-reply-to",
    "references",
    "content-transfer-encoding",
    "list-help",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    "precedence",
    "auto-submitted",
)
# Spaces checked one by one on the fast path before falling back to the regex path.
FAST_PATH_MAX_SPACES = 64
# Longest line in the folded DKIM-Signature header (RFC 5322 §2.1.1 SHOULD limit).
SIGNATURE_LINE = 78
# Canonical header fields kept per signer: a campaign's shared fields fit many times over.
CANONICAL_CACHE = 256
# Signature layouts kept per signer (one per combination of signed fields and their
# counts); a campaign's messages share one or two.
LAYOUT_CACHE = 64
# base64 of a SHA-256 digest: the bh= value always has this length.
BODY_HASH_CHARS = 44

_SELECTOR = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_-]+)*\Z")
_HEADER_WSP = re.compile(rb"[ \t]+")
_HEADER_UNFOLD = re.compile(rb"\r\n(?=[ \t])")
_BODY_WSP_EOL = re.compile(rb"[ \t]+\r\n")
_BODY_WSP = re.compile(rb"[ \t]+")


def generate_key(bits: int = DEFAULT_KEY_BITS) -> tuple[bytes, str]:
    """Create an RSA key pair; return ``(private_pem, dns_txt_value)``.

    `private_pem` is PKCS#1 PEM (accepted by `DkimSigner`, dkimpy and OpenDKIM);
    `dns_txt_value` is the TXT record for ``<selector>._domainkey.<domain>``:
    ``v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>``.
    """
    if bits < MIN_KEY_BITS:
        raise ValueError(f"DKIM keys need at least {MIN_KEY_BITS} bits (RFC 8301)")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return pem, _dns_txt_value(key.public_key())


def _dns_txt_value(public_key: rsa.RSAPublicKey) -> str:
    """Return the DKIM key record value for `public_key`."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"


def _relaxed_header(field: bytes) -> bytes:
    """Relaxed-canonicalise one raw header field (RFC 6376 §3.4.2), without its CRLF."""
    name, _, value = field.partition(b":")
    value = _HEADER_WSP.sub(b" ", _HEADER_UNFOLD.sub(b"", value)).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value


def _relaxed_body(body: bytes) -> bytes:
    """Relaxed-canonicalise a CRLF body (RFC 6376 §3.4.4)."""
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    body = _BODY_WSP.sub(b" ", _BODY_WSP_EOL.sub(b"\r\n", body))
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def _spaces_are_canonical(message: bytes, start: int) -> bool:
    """True if no space after `start` is doubled or ends a line (few spaces expected).

    Two-byte searches (``b"  "``, ``b" \\r\\n"``) scan at ~0.7 ns/byte, while one-byte
    `find` uses memchr; base64 bodies have only a handful of spaces (in part headers),
    so hopping from space to space is ~50x faster.  Bodies with many spaces are simply
    reported as not canonical and take the regex path, which is always correct.
    """
    index = message.find(b" ", start)
    for _ in range(FAST_PATH_MAX_SPACES):
        if index < 0:
            return True
        if message[index + 1 : index + 2] in (b" ", b"\r"):
            return False
        index = message.find(b" ", index + 1)
    return index < 0


def _body_hash(message: bytes, start: int) -> bytes:
    """Return the SHA-256 digest of the relaxed canonical form of ``message[start:]``."""
    # Fast path: a body already in relaxed canonical form (CRLF, single spaces, no
    # trailing whitespace, one final CRLF) is hashed through a memoryview, without copying
    # 60+ KB.
    size = len(message) - start
    is_canonical = (
        size >= 2
        and message.endswith(b"\r\n")
        and (size < 4 or not message.endswith(b"\r\n\r\n"))
        and message.find(b"\t", start) < 0
        and _spaces_are_canonical(message, start)
    )
    if is_canonical:
        return hashlib.sha256(memoryview(message)[start:]).digest()
    return hashlib.sha256(_relaxed_body(message[start:])).digest()


class _Layout(NamedTuple):
    """What signing needs for one header layout, worked out once per signer.

    `picks` are ``(name, index)`` pairs, in h= order, of the fields that exist (an index
    into that name's fields, top to bottom); `head` and `canonical` are the signature
    header up to ``b=`` and its relaxed form, split where the t= and bh= values go.
    """

    picks: tuple[tuple[str, int], ...]
    head: tuple[str, str, str]
    canonical: tuple[bytes, bytes, bytes]


def _split_fields(header_block: bytes) -> list[bytes]:
    """Split a CRLF header block into raw fields, continuation lines kept attached."""
    fields: list[bytes] = []
    for line in header_block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields


class DkimSigner:
    """Signs messages for one domain and selector with an RSA key loaded once.

    `sign()` is thread-safe: the loaded key is immutable and OpenSSL signing holds no
    shared state.
    """

    def __init__(
        self,
        domain: str,
        selector: str,
        private_key_pem: bytes | str,
        *,
        oversign: bool = True,
    ) -> None:
        """Load and check the key; `domain` may be an IDN (it is signed as A-labels)."""
        pem = (
            private_key_pem.encode("ascii") if isinstance(private_key_pem, str) else private_key_pem
        )
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("DKIM key must be RSA (Gmail and Microsoft do not verify Ed25519)")
        if key.key_size < MIN_KEY_BITS:
            raise ValueError(f"DKIM key has {key.key_size} bits; at least {MIN_KEY_BITS} needed")
        if not _SELECTOR.match(selector):
            raise ValueError(f"invalid DKIM selector: {selector!r}")
        self.domain = (
            idna.encode(domain, uts46=True).decode("ascii") if not domain.isascii() else domain
        )
        self.selector = selector
        self.oversign = oversign
        self._key = key
        self._pem = pem
        self._padding = padding.PKCS1v15()
        # Raw header field -> (name, relaxed form + CRLF); dict reads and writes are atomic
        # under the GIL, so concurrent sign() calls at worst work one out twice.
        self._canonical: dict[bytes, tuple[str, bytes]] = {}
        # (counts of the signed fields, digits of t=) -> _Layout; same GIL argument.
        self._layouts: dict[tuple[tuple[int, ...], int], _Layout] = {}
        self._hash = hashes.SHA256()

    @property
    def dns_name(self) -> str:
        """The DNS name of the key record: ``<selector>._domainkey.<domain>``."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def dns_txt_value(self) -> str:
        """The TXT record value that publishes this signer's public key."""
        return _dns_txt_value(self._key.public_key())

    def _plan(self, counts: tuple[int, ...]) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...]]:
        """Return the h= names and the fields they pick for `counts` (per `SIGNED_HEADERS`).

        Every present field is listed, bottom-up as RFC 6376 §5.4.2 selects repeated ones;
        with `oversign`, every signed name follows once more.  That extra entry selects no
        field and hashes as the null string, so the signature covers the absence of any
        further copy (§8.15): an added Reply-To, Cc or second From fails verification.
        """
        names: list[str] = []
        picks: list[tuple[str, int]] = []
        for name, count in zip(SIGNED_HEADERS, counts, strict=True):
            for nth_from_bottom in range(count):
                names.append(name)
                picks.append((name, count - 1 - nth_from_bottom))
        if self.oversign:
            names += SIGNED_HEADERS
        return tuple(names), tuple(picks)

    def _layout(self, counts: tuple[int, ...], t_chars: int) -> _Layout:
        """Return the cached `_Layout` for `counts` and a t= value of `t_chars` digits.

        Folding depends only on the lengths of t= and bh=, and relaxed canonicalisation
        leaves those values (no whitespace) as they are, so the header and its canonical
        form are built once with placeholders and split around them.
        """
        key = (counts, t_chars)
        layout = self._layouts.get(key)
        if layout is not None:
            return layout
        names, picks = self._plan(counts)
        t_mark, bh_mark = "\x00" * t_chars, "\x01" * BODY_HASH_CHARS
        header = self._header_without_b(names, t_mark, bh_mark)
        before_t, _, rest = header.partition(t_mark)
        between, _, after_bh = rest.partition(bh_mark)
        canonical = _relaxed_header(header.encode("ascii"))
        c_before_t, _, c_rest = canonical.partition(t_mark.encode("ascii"))
        c_between, _, c_after_bh = c_rest.partition(bh_mark.encode("ascii"))
        layout = _Layout(picks, (before_t, between, after_bh), (c_before_t, c_between, c_after_bh))
        if len(self._layouts) < LAYOUT_CACHE:
            self._layouts[key] = layout
        return layout

    def _fields_by_name(self, header_block: bytes) -> dict[str, list[bytes]]:
        """Map each lower-case header name to its fields' relaxed forms, top to bottom."""
        by_name: dict[str, list[bytes]] = {}
        for field in _split_fields(header_block):
            name, canonical = self._field(field)
            by_name.setdefault(name, []).append(canonical)
        return by_name

    @staticmethod
    def _counts(by_name: dict[str, list[bytes]]) -> tuple[int, ...]:
        """How often each of `SIGNED_HEADERS` occurs, in that order."""
        return tuple(len(by_name.get(name, ())) for name in SIGNED_HEADERS)

    def sign(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """Return `message` with a ``DKIM-Signature:`` header prepended.

        rsa-sha256, c=relaxed/relaxed, ``h=`` lists the `SIGNED_HEADERS` present in the
        message, then (with `oversign`) each of `SIGNED_HEADERS` once more, so that none
        can be added later.  Bare LF or CR line breaks are normalised to CRLF first, and
        the returned bytes are the normalised message: send exactly those.
        """
        if type(message) is not MessageBytes:
            # smtplib turns bare CR/LF into CRLF when sending, so sign that form.
            message = normalize_crlf(message)
        end = message.find(b"\r\n\r\n")
        if end < 0:
            header_block, body_start = message, len(message)
        else:
            header_block, body_start = message[: end + 2], end + 4
        if type(message) is MessageBytes:
            # MessageBuilder guarantees a relaxed-canonical body; skip the scans.
            body_hash = hashlib.sha256(memoryview(message)[body_start:]).digest()
        else:
            body_hash = _body_hash(message, body_start)

        by_name = self._fields_by_name(header_block)
        if "from" not in by_name:
            raise ValueError("cannot DKIM-sign a message without a From header (RFC 6376 §5.4)")
        t = str(int(time.time()) if timestamp is None else timestamp)
        layout = self._layout(self._counts(by_name), len(t))
        canonical = [by_name[name][index] for name, index in layout.picks]

        bh = base64.b64encode(body_hash).decode("ascii")
        before_t, between, after_bh = layout.head
        unsigned = before_t + t + between + bh + after_bh
        # The signature header itself is hashed with an empty b= and no final CRLF.
        c_before_t, c_between, c_after_bh = layout.canonical
        canonical.append(
            c_before_t + t.encode("ascii") + c_between + bh.encode("ascii") + c_after_bh
        )
        signature = self._key.sign(b"".join(canonical), self._padding, self._hash)
        header = unsigned + _fold_b64(base64.b64encode(signature).decode("ascii"), unsigned)
        return header.encode("ascii") + b"\r\n" + message

    def _field(self, field: bytes) -> tuple[str, bytes]:
        """The lower-case name of a raw header field and its relaxed form with CRLF.

        The fields all messages of a campaign share (From, Subject, List-Id, Content-Type,
        ...) are worked out once; the cache stops growing at ``CANONICAL_CACHE`` entries, so
        per-recipient fields (To, Message-ID) cannot make it grow without bound.
        """
        known = self._canonical.get(field)
        if known is None:
            name = field.partition(b":")[0].rstrip(b" \t").decode("ascii", "replace").lower()
            known = (name, _relaxed_header(field) + b"\r\n")
            if len(self._canonical) < CANONICAL_CACHE:
                self._canonical[field] = known
        return known

    def _header_without_b(self, names: tuple[str, ...], t: str, bh: str) -> str:
        """Return the folded DKIM-Signature header up to and including ``b=``."""
        tags = [
            "v=1",
            "a=rsa-sha256",
            "c=relaxed/relaxed",
            f"d={self.domain}",
            f"s={self.selector}",
            f"t={t}",
        ]
        lines = ["DKIM-Signature:"]
        for tag in tags:
            _append_token(lines, f" {tag};")
        # h= may break after any ":" (RFC 6376 §3.5 allows FWS around the colons).
        h_tokens = [f"{name}:" for name in names]
        h_tokens[0] = "h=" + h_tokens[0]
        h_tokens[-1] = h_tokens[-1].rstrip(":") + ";"
        _append_token(lines, " " + h_tokens[0])
        for token in h_tokens[1:]:
            _append_token(lines, token)
        _append_token(lines, f" bh={bh};")
        lines.append(" b=")
        return "\r\n".join(lines)

    def sign_reference(self, message: bytes) -> bytes:
        """Return `message` signed by dkimpy with the same key and header list (slow path).

        ``include_headers`` is explicit because dkimpy's default leaves out
        list-unsubscribe-post (STANDARDS §5).
        """
        import dkim  # only tests and benchmarks need dkimpy's signing path

        end = message.find(b"\r\n\r\n")
        header_block = message[: end + 2] if end >= 0 else message
        names, _ = self._plan(self._counts(self._fields_by_name(header_block)))
        signature: bytes = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self._pem,
            include_headers=[name.encode("ascii") for name in names],
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=b"rsa-sha256",
        )
        return signature + message


def _append_token(lines: list[str], token: str) -> None:
    """Append `token` to the last line, or start a new folded line if it would not fit."""
    if len(lines[-1]) + len(token) <= SIGNATURE_LINE:
        lines[-1] += token
    else:
        # A continuation line must start with whitespace (RFC 5322 §2.2.3).
        lines.append(token if token.startswith(" ") else " " + token)


def _fold_b64(value: str, header: str) -> str:
    """Return the b= value broken into folded lines that fit `SIGNATURE_LINE`.

    Verifiers ignore whitespace inside b= (RFC 6376 §3.5), and strip the whole value,
    folding included, before checking the signature.
    """
    first = SIGNATURE_LINE - len(header.rsplit("\r\n", 1)[-1])
    chunks = [value[:first]]
    rest = value[first:]
    width = SIGNATURE_LINE - 1
    chunks += [rest[i : i + width] for i in range(0, len(rest), width)]
    return "\r\n ".join(chunks)
