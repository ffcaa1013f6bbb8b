"""``smtp_content``: the bytes after DATA's 354 are what smtplib would send, faster."""

from __future__ import annotations

import random
import re

import pytest

from service.mail.relays import DOTS_LOOKED_AT, smtp_content


def reference(data: bytes) -> bytes:
    """smtplib.SMTP.data's own quoting and ending, for a CRLF message."""
    quoted = re.sub(rb"(?m)^\.", b"..", data)
    if not quoted.endswith(b"\r\n"):
        quoted += b"\r\n"
    return quoted + b".\r\n"


@pytest.mark.parametrize(
    "data",
    [
        b"Subject: x\r\n\r\nno dot at a line start. Or here.\r\n",
        b".first line is a dot\r\n\r\nbody",
        b"Subject: x\r\n\r\n.\r\n..\r\n.end",
        b"Subject: x\r\n\r\nlast line without its CRLF",
        b"",
        b"." * (DOTS_LOOKED_AT + 5) + b"\r\n." + b"x\r\n",  # many dots, then a dot line
        b"a." * (DOTS_LOOKED_AT * 3) + b"\r\nno dot line at all\r\n",
    ],
)
def test_the_content_is_what_smtplib_sends(data: bytes) -> None:
    assert smtp_content(data) == reference(data)


def test_random_crlf_messages_match_smtplib() -> None:
    rng = random.Random(2920)
    for _ in range(500):
        lines = [
            bytes(rng.choice(b"ab.. \t=") for _ in range(rng.randint(0, 12)))
            for _ in range(rng.randint(0, 30))
        ]
        data = b"\r\n".join(lines) + rng.choice([b"", b"\r\n"])
        assert smtp_content(data) == reference(data), data
