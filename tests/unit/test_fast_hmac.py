"""``hmac_sha256`` must give exactly the standard library's HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from service.fast_hmac import hmac_sha256

# RFC 4231 test case 2 (a short key) and test case 6 (a key longer than the block).
RFC_4231 = [
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
]


@pytest.mark.parametrize(("key", "message", "expected"), RFC_4231)
def test_rfc_4231_vectors(key: bytes, message: bytes, expected: str) -> None:
    assert hmac_sha256(key, message).hex() == expected


@pytest.mark.parametrize("key_length", [0, 1, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("message", [b"", b"1.2", bytes(range(256)) * 3])
def test_same_bytes_as_the_standard_library(key_length: int, message: bytes) -> None:
    key = bytes((7 * i + key_length) % 256 for i in range(key_length))
    expected = hmac.new(key, message, hashlib.sha256).digest()
    assert hmac_sha256(key, message) == expected
    assert hmac_sha256(key, message) == expected  # the cached key states are not consumed
