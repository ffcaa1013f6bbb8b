"""Message-IDs of campaign mail: ``<c12.d3456.<hmac>@domain>``, the same for every retry
of a delivery, traceable from bounces and replies, and impossible to forge without the
secret.
"""

from __future__ import annotations

import hmac
import re

from service.fast_hmac import hmac_sha256
from service.mail.message_addresses import a_label_domain

__all__ = ["message_id_for", "parse_message_id"]

# Hex characters of HMAC in a Message-ID: 48 bits, so ids cannot be guessed or forged.
MESSAGE_ID_TAG_CHARS = 12
# Domain separation: the same secret also keys VERP addresses and tokens elsewhere.
MESSAGE_ID_HMAC_CONTEXT = b"tidings/message-id\x00"
_MESSAGE_ID_PARSE = re.compile(r"<c([0-9]+)\.d([0-9]+)\.([0-9a-f]+)@([^<>@\s]+)>\Z")


def _message_id_tag(delivery_id: int, campaign_id: int, secret: bytes) -> str:
    """Return the HMAC fragment binding a Message-ID to its delivery and campaign."""
    msg = MESSAGE_ID_HMAC_CONTEXT + f"{campaign_id}.{delivery_id}".encode("ascii")
    return hmac_sha256(secret, msg).hex()[:MESSAGE_ID_TAG_CHARS]


def message_id_for(delivery_id: int, campaign_id: int, secret: bytes, domain: str) -> str:
    """Return the deterministic Message-ID ``<c12.d3456.<hmac>@domain>`` of a delivery.

    The same delivery always gets the same id (a retry is recognisably the same message;
    `deliveries.message_id` is UNIQUE), the ids are traceable from bounces and replies,
    and the HMAC fragment makes them impossible to guess or forge without `secret`.
    """
    if delivery_id < 0 or campaign_id < 0:
        raise ValueError("delivery_id and campaign_id must be non-negative")
    tag = _message_id_tag(delivery_id, campaign_id, secret)
    return f"<c{campaign_id}.d{delivery_id}.{tag}@{a_label_domain(domain)}>"


def parse_message_id(message_id: str, secret: bytes, domain: str) -> tuple[int, int] | None:
    """Return ``(campaign_id, delivery_id)`` for an id made by `message_id_for`, else None.

    The HMAC is compared in constant time, so a forged or foreign id yields None.
    """
    match = _MESSAGE_ID_PARSE.match(message_id.strip())
    if match is None or match.group(4).lower() != a_label_domain(domain).lower():
        return None
    campaign_id, delivery_id = int(match.group(1)), int(match.group(2))
    expected = _message_id_tag(delivery_id, campaign_id, secret)
    if not hmac.compare_digest(expected, match.group(3)):
        return None
    return campaign_id, delivery_id
