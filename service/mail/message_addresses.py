"""An address as a message and its envelope write it: the IDN domain as an A-label, the
local part checked, and `NeedsSMTPUTF8` for one that only an SMTPUTF8 path can carry
(STANDARDS.md §2.6).  The builder (`service.mail.message`) writes these on the To and From
lines; the same form goes in RCPT TO.
"""

from __future__ import annotations

import re
from functools import lru_cache

import idna

from service.mail.policy import sanitize_header_value

__all__ = [
    "ATEXT",
    "DOT_ATOM",
    "UTEXT",
    "NeedsSMTPUTF8",
    "a_label_domain",
    "encode_address",
    "split_address",
]

# RFC 5322 atext: what dot-atoms (and the bare words of a display name) are made of.
ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
DOT_ATOM = re.compile(rf"[{ATEXT}]+(?:\.[{ATEXT}]+)*\Z")
# RFC 6532 §3.2 extends atext with any non-ASCII UTF-8 character.
UTEXT = rf"\u0080-\U0010ffff{ATEXT}"  # non-ASCII first: ATEXT ends with a literal "-"
_DOT_ATOM_UTF8 = re.compile(rf"[{UTEXT}]+(?:\.[{UTEXT}]+)*\Z")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_ASCII_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?\Z")


class NeedsSMTPUTF8(ValueError):
    """The address has a non-ASCII local part and can only be sent over SMTPUTF8.

    Such an address cannot be downgraded (STANDARDS §2.6): skip the recipient, or pass
    ``smtputf8=True`` when every hop is known to support RFC 6531.
    """


@lru_cache(maxsize=4096)
def a_label_domain(domain: str) -> str:
    """Return `domain` in ASCII (A-labels for IDN), validated; cached per domain."""
    if domain.isascii():
        if not _ASCII_DOMAIN.match(domain) and not (
            domain.startswith("[") and domain.endswith("]") and " " not in domain
        ):
            raise ValueError(f"invalid mail domain: {domain!r}")
        return domain
    try:
        # The `idna` package implements IDNA 2008 + UTS #46; Python's built-in "idna"
        # codec is IDNA 2003 and maps some names differently (STANDARDS §2.6).
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"invalid internationalised domain {domain!r}: {exc}") from exc


def split_address(addr: str, *, smtputf8: bool) -> tuple[str, str]:
    """Split and validate `addr`; return (local part, ASCII domain)."""
    sanitize_header_value("address", addr)
    local, sep, domain = addr.strip().rpartition("@")
    if not sep or not local or not domain:
        raise ValueError(f"not an email address: {addr!r}")
    if not local.isascii():
        if not smtputf8:
            raise NeedsSMTPUTF8(
                f"{addr!r} has a non-ASCII local part; it can only be delivered over an "
                "SMTPUTF8 path (pass smtputf8=True if every hop supports it), so skip it"
            )
        if not _DOT_ATOM_UTF8.match(local):
            raise ValueError(f"unsupported local part in {addr!r}")
    elif not DOT_ATOM.match(local):
        # Quoted local parts are legal but practically undeliverable; email-validator
        # rejects them at subscription time too.
        raise ValueError(f"unsupported (quoted or malformed) local part in {addr!r}")
    return local, a_label_domain(domain)


def encode_address(addr: str, *, smtputf8: bool = False) -> str:
    """Return `addr` as written on the wire: IDN domain as A-label, local part unchanged.

    Raises `NeedsSMTPUTF8` for a non-ASCII local part unless `smtputf8` is true, and
    `ValueError` for a malformed address.  Use the result for RCPT TO and the To header.
    """
    local, domain = split_address(addr, smtputf8=smtputf8)
    return f"{local}@{domain}"
