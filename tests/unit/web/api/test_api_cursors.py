"""Opaque cursors: round trips, and every kind of forgery is a ``bad_cursor``."""

from __future__ import annotations

import base64

import pytest

from service.web.api.errors import ApiError
from service.web.api.pagination import MAX_ID, decode, decode_id, encode


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_round_trips_and_is_url_safe() -> None:
    token = encode(["lists", 42])
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode(token) == ["lists", 42]
    assert decode_id(token, "lists") == 42
    assert decode_id(None, "lists") is None


@pytest.mark.parametrize(
    "token",
    [
        "***",
        _b64(b"not json"),
        _b64(b"{}"),
        _b64(b"[]"),
        _b64(b'["issues", 1]'),
        _b64(b'["lists", "1"]'),
        _b64(b'["lists", true]'),
        _b64(b'["lists", -1]'),
        _b64(f'["lists", {MAX_ID + 1}]'.encode()),
        _b64(b"\xff\xfe"),
        _b64(b'["lists\\u0000", 1]'),
        _b64(b'["\\ud800", 1]'),
    ],
)
def test_a_forged_cursor_is_refused(token: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_id(token, "lists")
    assert caught.value.status == 400 and caught.value.code == "bad_cursor"
