"""VERP return paths: ``b+<delivery id, base36>.<hmac>@<bounce domain>`` (STANDARDS §3.3).

Each message's MAIL FROM names its delivery, so a bounce identifies the delivery even when
the DSN itself is mangled.  The truncated HMAC stops anyone from forging bounces for other
deliveries (which would suppress real subscribers).  Everything is lower-case, because
some MTAs lower-case local parts on the way back, and parsing ignores case for the same
reason.
"""

from __future__ import annotations

import base64
import hmac
import re

import idna

from service.fast_hmac import hmac_sha256

__all__ = ["MAX_LOCAL_PART", "VERP_PREFIX", "parse_verp", "verp_address"]

# RFC 5321 §4.5.3.1.1: a local part is at most 64 octets.
MAX_LOCAL_PART = 64
VERP_PREFIX = "b+"
# 10 base32 characters = 50 bits of HMAC: far beyond guessing by sending forged bounces.
VERP_TAG_CHARS = 10
# Domain separation: the same secret also keys Message-IDs and tokens.
VERP_HMAC_CONTEXT = b"tidings/verp\x00"

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_LOCAL_PART = re.compile(
    rf"{re.escape(VERP_PREFIX)}([0-9a-z]+)\.([a-z2-7]{{{VERP_TAG_CHARS}}})\Z", re.ASCII
)


def _base36(number: int) -> str:
    """Return `number` (≥ 0) in lower-case base 36, without leading zeros."""
    digits = []
    while True:
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
        if number == 0:
            return "".join(reversed(digits))


def _tag(code: str, secret: bytes) -> str:
    """Return the truncated, lower-case base32 HMAC-SHA256 of the delivery code."""
    digest = hmac_sha256(secret, VERP_HMAC_CONTEXT + code.encode("ascii"))
    return base64.b32encode(digest).decode("ascii")[:VERP_TAG_CHARS].lower()


def _domain(bounce_domain: str) -> str:
    """Return the bounce domain in lower-case ASCII (A-labels for an IDN)."""
    if bounce_domain.isascii():
        return bounce_domain.lower()
    return idna.encode(bounce_domain, uts46=True).decode("ascii")


def verp_address(delivery_id: int, secret: bytes, bounce_domain: str) -> str:
    """Return the VERP return path of a delivery, e.g. ``b+2n9c.k3x7q2mfa4@bounces.example.org``.

    Raises `ValueError` for a negative id or one so large that the local part would
    exceed 64 octets (never for a 64-bit id).
    """
    if delivery_id < 0:
        raise ValueError("delivery_id must be non-negative")
    code = _base36(delivery_id)
    local = f"{VERP_PREFIX}{code}.{_tag(code, secret)}"
    if len(local) > MAX_LOCAL_PART:
        raise ValueError(f"delivery_id {delivery_id} is too large for a VERP local part")
    return f"{local}@{_domain(bounce_domain)}"


def parse_verp(address: str, secret: bytes, bounce_domain: str) -> int | None:
    """Return the delivery id encoded in a VERP `address`, or None if it is not ours.

    Case-insensitive, tolerant of surrounding ``<>`` and whitespace; None for another
    domain, a malformed local part, or a wrong HMAC (compared in constant time).
    """
    if not address.isascii():
        return None
    local, sep, domain = address.strip().strip("<>").lower().rpartition("@")
    if not sep or domain.rstrip(".") != _domain(bounce_domain).rstrip("."):
        return None
    match = _LOCAL_PART.match(local)
    if match is None:
        return None
    code, tag = match.groups()
    if not hmac.compare_digest(_tag(code, secret), tag):
        return None
    return int(code, 36)
