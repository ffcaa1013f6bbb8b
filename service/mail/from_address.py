"""The sender's address: what may stand in From, and where it may be sent from.

The embedded default, ``newsletter@localhost``, names no public domain. That is right for
a newcomer's machine, where every message goes to the local capture and nobody can reply;
a relay would hand it to receiving servers that refuse (or junk) a sender domain they
cannot look up. So such an address is accepted on a campaign, and refused when sending
would go through a relay — before sending starts, with a message saying what to set.
"""

from __future__ import annotations

from email.utils import parseaddr

from service.errors import DomainError
from service.mail.addresses import InvalidAddress, normalise

# Names that resolve only on this machine (RFC 6761 §6.3): fine for the local capture.
LOCAL_ONLY_DOMAINS = ("localhost",)


class UnsendableFrom(DomainError, ValueError):
    """The From address cannot be sent through a relay; the message says what to set."""


def is_local_only(address: str) -> bool:
    """Whether the address's domain resolves only on this machine (``…@localhost``)."""
    domain = address.rpartition("@")[2].rstrip(".").lower()
    return any(domain == d or domain.endswith(f".{d}") for d in LOCAL_ONLY_DOMAINS)


def sender_address(value: str) -> str:
    """The From address as it goes on the wire (``Name <addr>`` or a bare address).

    Checked like any address, except that a local-only domain is accepted here and
    judged by ``check_sendable`` when the relay is known. Raises ``InvalidAddress``.
    """
    _, addr = parseaddr(value)
    addr = (addr or value).strip()
    local, at, _domain = addr.rpartition("@")
    if at and is_local_only(addr) and local and local.isascii() and " " not in local:
        # email-validator refuses special-use names outright; the local part still must
        # be a plain one, so check it on a stand-in public domain.
        normalise(f"{local}@example.org")
        return addr.lower()
    return normalise(addr).email_ascii


def check_sendable(from_addr: str, through_relay: bool) -> None:
    """Refuse a local-only From when the mail would go through a relay."""
    if through_relay and is_local_only(from_addr):
        raise UnsendableFrom(
            "from.local_only",
            "the sender %(address)s has no public domain: a relay would pass it to "
            "receiving servers that refuse it. Set TIDINGS_FROM (or the campaign's From) "
            "to an address at your organisation's domain, e.g. news@example.org",
            address=from_addr,
        )


__all__ = [
    "InvalidAddress",
    "UnsendableFrom",
    "check_sendable",
    "is_local_only",
    "sender_address",
]
