"""Short signed tokens for links in mail: unsubscribe, preferences, open pixel, click.

Stateless (an HMAC over the ids, no database row per recipient), so rendering 100,000
messages writes nothing, and short (≤ 32 characters) so a List-Unsubscribe URL is never
folded (STANDARDS §2.7). Each purpose has its own key, derived from the secret key, so a
token made for one purpose never verifies for another. These tokens do not expire: the
links in an old message must keep working (RFC 8058, MIIT Art. 14).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re

from service.fast_hmac import hmac_sha256

MAC_BYTES = 10  # 80 bits: unguessable, and 16 base32 characters
MAX_TOKEN_LENGTH = 32
MAX_ID = 2**63 - 1  # the largest BIGINT: ids are database keys
SEPARATOR = "."


B36_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
# RFC 4648 base32, lower case: survives MTAs and clients that change the case of URLs.
B32_DIGITS = "abcdefghijklmnopqrstuvwxyz234567"


@functools.lru_cache(maxsize=1024)
def _b36(n: int) -> str:
    # Cached: a message's fifteen tokens repeat its delivery id.
    if n < 0:
        raise ValueError("ids are never negative")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = B36_DIGITS[r] + out
        if n == 0:
            return out


@functools.lru_cache(maxsize=64)
def _purpose_key(secret: str | bytes, purpose: str) -> bytes:
    # Derived once per (secret, purpose): a campaign makes ~15 tokens per recipient.
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"tidings-token:{purpose}".encode(), hashlib.sha256).digest()


# Ten bits (two base32 characters) per lookup; MAC_BYTES * 8 is a multiple of ten.
B32_PAIRS = [B32_DIGITS[i >> 5] + B32_DIGITS[i & 31] for i in range(1024)]
B32_SHIFTS = tuple(range(MAC_BYTES * 8 - 10, -1, -10))


def _b32(digest: bytes) -> str:
    # What base64.b32encode(digest).lower() gives for MAC_BYTES bytes (16 characters, no
    # padding), at a third of its cost: fifteen tokens per message add up.
    n = int.from_bytes(digest, "big")
    return "".join([B32_PAIRS[(n >> shift) & 1023] for shift in B32_SHIFTS])


def _mac(secret: str | bytes, purpose: str, parts: tuple[int, ...]) -> str:
    message = SEPARATOR.join(str(p) for p in parts).encode()
    return _b32(hmac_sha256(_purpose_key(secret, purpose), message)[:MAC_BYTES])


def make_token(secret: str | bytes, purpose: str, *ids: int) -> str:
    """A token for ``purpose`` binding the given ids, e.g. (subscriber, list)."""
    token = SEPARATOR.join([*(_b36(i) for i in ids), _mac(secret, purpose, ids)])
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(f"token for ids {ids} would be longer than {MAX_TOKEN_LENGTH}")
    return token


def read_token(secret: str | bytes, purpose: str, token: str, count: int) -> tuple[int, ...] | None:
    """The ``count`` ids inside a valid token, or None for a forged or mangled one (any
    string at all: non-ASCII, control characters, overlong)."""
    # The shape first: int() also reads "-1", " 1", "1_0" and non-ASCII digits, and
    # compare_digest raises on a str with non-ASCII characters.
    if not token or len(token) > MAX_TOKEN_LENGTH or not _shape(count).match(token):
        return None
    parts = token.lower().split(SEPARATOR)
    ids = tuple(int(p, 36) for p in parts[:-1])
    if any(i > MAX_ID for i in ids):
        return None  # no row has such an id, and the database would refuse the number
    if not hmac.compare_digest(parts[-1], _mac(secret, purpose, ids)):
        return None
    return ids


@functools.lru_cache(maxsize=8)
def _shape(count: int) -> re.Pattern[str]:
    # ``count`` base-36 ids, then the base-32 MAC; either case (clients change it).
    ids = rf"[0-9a-z]+{re.escape(SEPARATOR)}" * count
    return re.compile(rf"{ids}[{B32_DIGITS}]+\Z", re.ASCII | re.IGNORECASE)


# The purposes used across the service, in one place.
UNSUBSCRIBE = "unsubscribe"  # ids: subscriber, list
UNSUBSCRIBE_CAMPAIGN = "unsubscribe-campaign"  # ids: subscriber, campaign
PREFERENCES = "preferences"  # ids: subscriber
OPEN = "open"  # ids: delivery
CLICK = "click"  # ids: delivery, link position
