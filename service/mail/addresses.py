"""Email addresses as people type them: validated, case-folded, IDN-aware."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import idna
from email_validator import EmailNotValidError, validate_email

from service.errors import DomainError
from service.mail.address_reasons import reason_of


class InvalidAddress(DomainError, ValueError):
    """An address we will not store; the message says what is wrong with it."""


@dataclass(frozen=True)
class Address:
    """A checked address.

    ``email`` is the case-folded address as entered (an IDN domain stays readable);
    ``email_ascii`` is what goes on the wire (the domain as an A-label); ``needs_smtputf8``
    is true for a non-ASCII local part, which only a relay offering SMTPUTF8 can carry.
    """

    email: str
    email_ascii: str
    needs_smtputf8: bool


def normalise(raw: str) -> Address:
    """Check the syntax (no DNS lookups) and return the address in its stored forms."""
    text = (raw or "").strip()
    if not text:
        raise InvalidAddress("address.empty", "the address is empty")
    if any(c in text for c in "\r\n\0"):
        raise InvalidAddress("address.line_break", "the address contains a line break or NUL")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        # The validator's sentence read as our own code, so that it can be translated.
        raise InvalidAddress.carrying(reason_of(str(exc))) from exc
    local, _, domain = result.normalized.rpartition("@")
    local = local.casefold()
    domain = domain.casefold()
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidAddress(
            "address.bad_domain",
            "the domain %(domain)r is not a valid internationalised name: %(reason)s",
            domain=domain,
            reason=str(exc),
        ) from exc
    return Address(
        email=f"{local}@{domain}",
        email_ascii=f"{local}@{ascii_domain}",
        needs_smtputf8=not local.isascii(),
    )


# A stored address in its plainest form: a lower-case dot-atom local part and an ASCII
# host name. For these normalise() changes nothing, so the sender skips the validator
# (about 100 µs an address, a tenth of a worker's time per message).
_PLAIN_STORED = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]"
)
_MAX_PLAIN_LENGTH = 254


def wire_form(stored: str) -> str:
    """The address as it goes on the wire (domain as an A-label), from its stored form.

    Raises ``InvalidAddress`` for a value that is not an address.
    """
    if len(stored) <= _MAX_PLAIN_LENGTH and _PLAIN_STORED.fullmatch(stored):
        return stored
    return normalise(stored).email_ascii


def email_hash(email: str) -> str:
    """SHA-256 of the case-folded address: how suppressions find an address, even one
    whose person was erased."""
    text = email.strip().casefold()
    local, at, domain = text.rpartition("@")
    if at and "xn--" in domain:
        # The wire form (A-label) and the stored form (U-label) are one address: hash the
        # stored form, or a suppression made from a bounce would never match.
        try:
            text = f"{local}@{idna.decode(domain)}"
        except idna.IDNAError:
            pass
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
