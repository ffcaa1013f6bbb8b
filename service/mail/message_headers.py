"""Header values written by hand, for speed: RFC 2047 encoded-words, folding to the line
limits, unstructured values, display-name phrases and address lines (STANDARDS.md §2.7).
A header's text comes back without its final CRLF; the builder (`service.mail.message`)
checks the length of every line and adds it.
"""

from __future__ import annotations

import binascii
import re

from service.mail.message_addresses import ATEXT, UTEXT
from service.mail.policy import MAX_LINE_OCTETS, sanitize_header_value

__all__ = ["address_line", "encode_words", "fold_words", "phrase_words", "unstructured_line"]

# RFC 2047 §2: an encoded-word is at most 75 characters, and a header line that contains
# encoded-words is at most 76 characters.
MAX_ENCODED_WORD = 75
MAX_ENCODED_LINE = 76
# RFC 5322 §2.1.1 SHOULD limit for lines without encoded-words.
SOFT_LINE_LIMIT = 78
# Longest ASCII display name written as a quoted-string; longer ones are encoded-words,
# which can be folded across lines.
MAX_QUOTED_NAME = 200

_EW_PREFIX = "=?utf-8?b?"
_EW_SUFFIX = "?="
_EW_OVERHEAD = len(_EW_PREFIX) + len(_EW_SUFFIX)

# A display name made only of atext words (single spaces) is written bare.
_ATOM_PHRASE = re.compile(rf"[{ATEXT}]+(?: [{ATEXT}]+)*\Z")
_UTF8_ATOM_PHRASE = re.compile(rf"[{UTEXT}]+(?: [{UTEXT}]+)*\Z")
_PRINTABLE_ASCII = re.compile(r"[ -~]*\Z")


def _payload_octets(word_budget: int) -> int:
    """Return how many UTF-8 octets fit in a B encoded-word of `word_budget` characters."""
    return (word_budget - _EW_OVERHEAD) // 4 * 3


def encode_words(text: str, first_budget: int = MAX_ENCODED_WORD) -> list[str]:
    """Split `text` into RFC 2047 ``=?utf-8?b?...?=`` encoded-words.

    The first word is at most `first_budget` characters (room left on the header's first
    line), every other word at most `MAX_ENCODED_WORD`.  Words always hold whole
    characters, so a multi-byte character is never split (RFC 2047 §5 rule 3).  Join the
    words with ``"\\r\\n "``: decoders drop whitespace between adjacent encoded-words.
    """
    budget = min(first_budget, MAX_ENCODED_WORD)
    limit = _payload_octets(budget)
    if limit < 4:  # a 4-octet character (emoji) must always fit in one word
        raise ValueError(f"encoded-word budget {first_budget} is too small")
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        octets = char.encode("utf-8")
        if len(chunk) + len(octets) > limit:
            words.append(_EW_PREFIX + binascii.b2a_base64(chunk, newline=False).decode() + "?=")
            chunk.clear()
            limit = _payload_octets(MAX_ENCODED_WORD)
        chunk += octets
    if chunk or not words:
        words.append(_EW_PREFIX + binascii.b2a_base64(chunk, newline=False).decode() + "?=")
    return words


def fold_words(prefix: str, words: list[str], suffix: str = "") -> str:
    """Return ``prefix + words + suffix`` folded with CRLF SP, lines ≤ 76 characters.

    `prefix` is the ``"Name: "`` part; `suffix` (e.g. `` <addr>``) stays whole and goes on
    a new line when it does not fit on the last one.
    """
    lines: list[str] = []
    line = prefix.rstrip(" ")
    # Never break straight after "Name:": an empty first line confuses some parsers.
    has_content = False
    for word in words:
        if len(line) + 1 + len(word) > MAX_ENCODED_LINE and has_content:
            lines.append(line)
            line = ""
        line = f"{line} {word}"
        has_content = True
    if suffix:
        if len(line) + len(suffix) > MAX_ENCODED_LINE and has_content:
            lines.append(line)
            line = ""
        line += suffix
    lines.append(line)
    return "\r\n".join(lines)


def _needs_encoding(text: str) -> bool:
    """True if `text` cannot be written as plain unstructured ASCII and round-trip."""
    return (
        not text.isascii()
        or "=?" in text
        or not _PRINTABLE_ASCII.match(text)
        or text != text.strip()
        or "  " in text
    )


def unstructured_line(name: str, value: str) -> str:
    """Return the header line(s), without the final CRLF, for unstructured `value`."""
    prefix = f"{name}: "
    if not _needs_encoding(value):
        words = value.split(" ")
        if max(map(len, words)) + 1 + len(prefix) <= MAX_LINE_OCTETS:
            return _fold_plain(prefix, words)
    return fold_words(prefix, encode_words(value, MAX_ENCODED_LINE - len(prefix)))


def _fold_plain(prefix: str, words: list[str]) -> str:
    """Fold plain ASCII words at spaces so lines stay ≤ 78 where the words allow."""
    lines: list[str] = []
    line = prefix + words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) > SOFT_LINE_LIMIT:
            lines.append(line)
            line = " " + word
        else:
            line = f"{line} {word}"
    lines.append(line)
    return "\r\n".join(lines)


def phrase_words(name: str, prefix_len: int, *, raw_utf8: bool = False) -> list[str]:
    """Return the display-name `name` as phrase tokens (atoms, quoted-string or words).

    A non-ASCII name becomes encoded-words, never a whole ``name <addr>`` string, so the
    address cannot be swallowed into an encoded-word (STANDARDS §2.7 item 1).  With
    `raw_utf8` (an SMTPUTF8 message) it is written as UTF-8 per RFC 6532 instead.
    """
    atoms = _UTF8_ATOM_PHRASE if raw_utf8 else _ATOM_PHRASE
    if atoms.match(name) and "=?" not in name:
        return [name]
    printable = _PRINTABLE_ASCII.match(name) if name.isascii() else raw_utf8
    if printable and len(name) <= MAX_QUOTED_NAME and "=?" not in name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{escaped}"']
    return encode_words(name, MAX_ENCODED_LINE - prefix_len)


def address_line(
    name: str, display_name: str | None, addr_spec: str, *, raw_utf8: bool = False
) -> str:
    """Return an address header line (no final CRLF): ``Name: phrase <addr>`` or bare."""
    prefix = f"{name}: "
    if not display_name:
        return prefix + addr_spec
    sanitize_header_value(name, display_name)
    words = phrase_words(display_name, len(prefix), raw_utf8=raw_utf8)
    return fold_words(prefix, words, f" <{addr_spec}>")
