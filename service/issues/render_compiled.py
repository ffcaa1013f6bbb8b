"""The per-campaign compiled email: literal chunks and per-recipient slots.

The expensive work (Jinja, MJML, premailer) runs once per campaign and leaves *markers* where
recipient data goes. :func:`compile_email` splits the finished HTML and text at those markers
into literal chunks; :meth:`CompiledEmail.fill` then builds one recipient's message with a
list copy, a few dict look-ups and ``"".join`` — no parsing, no regex, no templating.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from service.mail.message_bodies import canonical_text, normalize_crlf

# Version of the to_dict() shape; from_dict refuses others so a stale cache entry is rebuilt
# instead of being misread.
COMPILED_FORMAT_VERSION = 1
# Subscriber names are cut to this many characters when filled (they sit in a greeting line
# and their worst-case size is part of the Gmail-clipping budget).
NAME_MAX_CHARS = 64
# Worst-case bytes of one filled slot in the HTML part, used for html_size_encoded. A name
# is at most NAME_MAX_CHARS characters of which each may escape to 6 bytes ("&quot;"); URLs
# are the service's own unsubscribe / preferences / pixel / click-redirect URLs.
WORST_CASE_NAME_BYTES = NAME_MAX_CHARS * 6
WORST_CASE_URL_BYTES = 256
# MIME base64 bodies are folded into lines of 76 characters plus CRLF (RFC 2045 §6.8).
BASE64_LINE_CHARS = 76
NONCE_BYTES = 6

# Per-recipient names come from sign-up forms and CSV imports: drop C0/C1 controls (they make
# Gmail clip, STANDARDS §6.6) and line breaks with str.translate, which is C-speed, not regex.
_NAME_CONTROLS = dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0), 0xFEFF])

SLOT_NAME = "name"
SLOT_UNSUBSCRIBE = "unsubscribe_url"
SLOT_PREFERENCES = "preferences_url"
SLOT_OPEN_PIXEL = "open_pixel_url"
LINK_SLOT_PREFIX = "link:"


def _final_crlf(data: bytes) -> bytes:
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _has_line_break(values: Iterable[str]) -> bool:
    # A slot value with a line break would meet a chunk's CR or LF across the seam, which
    # the per-chunk conversion cannot see; URLs and cleaned names never have one.
    return any("\n" in v or "\r" in v for v in values)


class MissingSlotError(KeyError):
    """``fill`` was called without a value for a slot the template needs."""


class SlotMarkers:
    """Hands out marker strings for slots; one instance per render.

    Markers are plain ASCII letters and digits so they pass unchanged through Jinja
    autoescaping, MRML, lxml's serializer (which percent-escapes odd characters in href) and
    HTML escaping. The random nonce makes a collision with real content practically
    impossible; the caller checks the content does not contain it anyway.
    """

    def __init__(self, nonce: str | None = None) -> None:
        self.nonce = nonce or secrets.token_hex(NONCE_BYTES)
        self.names: list[str] = []
        self._index: dict[str, int] = {}
        self.pattern = re.compile(f"zq{self.nonce}n([0-9]+)q")

    def __call__(self, name: str) -> str:
        """Return the marker that stands for slot ``name``."""
        index = self._index.get(name)
        if index is None:
            index = self._index[name] = len(self.names)
            self.names.append(name)
        return f"zq{self.nonce}n{index}q"


@dataclass(frozen=True)
class _Part:
    """One MIME part as alternating literal chunks and slot names."""

    chunks: tuple[str, ...]
    slots: tuple[str, ...]

    @classmethod
    def split(cls, rendered: str, markers: SlotMarkers) -> _Part:
        pieces = markers.pattern.split(rendered)
        # re.split with one group alternates literal, group, literal, …
        return cls(tuple(pieces[0::2]), tuple(markers.names[int(i)] for i in pieces[1::2]))

    def to_dict(self) -> dict[str, Any]:
        return {"chunks": list(self.chunks), "slots": list(self.slots)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Part:
        chunks = tuple(str(c) for c in d["chunks"])
        slots = tuple(str(s) for s in d["slots"])
        if len(chunks) != len(slots) + 1:
            raise ValueError("compiled part: need exactly one more chunk than slots")
        return cls(chunks, slots)


@dataclass(frozen=True)
class CompiledEmail:
    """A campaign's HTML and text, ready for cheap per-recipient filling.

    Slots: ``name``, ``unsubscribe_url``, ``preferences_url``, ``open_pixel_url`` (only when
    tracking is on) and ``link:N`` for each tracked link. Values are given raw; ``fill``
    HTML-escapes them for the HTML part.
    """

    html: _Part
    text: _Part
    # Shown instead of an empty subscriber name ("会员", "member").
    name_fallback: str = ""
    _html_parts: list[str | None] = field(init=False, repr=False, compare=False)
    _html_pos: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    _text_parts: list[str | None] = field(init=False, repr=False, compare=False)
    _text_pos: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    # The same lists with each chunk already as wire octets (see fill_wire); None when a
    # chunk holds a bare CR, which only the whole-text normalisation handles right.
    _html_wire: list[bytes | None] | None = field(init=False, repr=False, compare=False)
    _text_wire: list[bytes | None] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Precompute the interleaved list once; fill() only copies it and drops values in.
        for attr, part in (("html", self.html), ("text", self.text)):
            parts: list[str | None] = []
            positions: list[tuple[int, str]] = []
            for chunk, slot in zip(part.chunks, (*part.slots, None), strict=True):
                parts.append(chunk)
                if slot is not None:
                    positions.append((len(parts), slot))
                    parts.append(None)
            object.__setattr__(self, f"_{attr}_parts", parts)
            object.__setattr__(self, f"_{attr}_pos", tuple(positions))
            wire = None
            if not any("\r" in chunk for chunk in part.chunks):
                wire = [None if p is None else normalize_crlf(p.encode("utf-8")) for p in parts]
            object.__setattr__(self, f"_{attr}_wire", wire)

    @property
    def slot_names(self) -> frozenset[str]:
        """Every slot name a ``fill`` call must provide."""
        return frozenset(self.html.slots) | frozenset(self.text.slots)

    @property
    def link_slots(self) -> list[str]:
        """The ``link:N`` slot names, in order of N."""
        names = {s for s in self.slot_names if s.startswith(LINK_SLOT_PREFIX)}
        return sorted(names, key=lambda s: int(s[len(LINK_SLOT_PREFIX) :]))

    def fill(self, values: Mapping[str, str]) -> tuple[str, str]:
        """Return ``(html, text)`` for one recipient.

        ``values`` maps slot names to raw strings; an empty or missing ``name`` is replaced
        by the fallback. Raises :class:`MissingSlotError` when another slot has no value.
        Pure: nothing of one call is kept for the next.
        """
        raw = self._raw(values)
        try:
            html_parts = self._html_parts.copy()
            for pos, slot in self._html_pos:
                html_parts[pos] = escape(raw[slot])
            text_parts = self._text_parts.copy()
            for pos, slot in self._text_pos:
                text_parts[pos] = raw[slot]
        except KeyError:
            raise self._missing(raw) from None
        # mypy: every None placeholder has just been replaced by a string.
        return "".join(html_parts), "".join(text_parts)  # type: ignore[arg-type]

    def fill_wire(self, values: Mapping[str, str]) -> tuple[bytes, bytes]:
        """``fill`` as a message carries it: UTF-8 octets in canonical text form (CRLF line
        breaks and a final CRLF, RFC 2046 §4.1.1), ready to be base64-encoded.

        The same octets as encoding and normalising ``fill``'s result, but the literal
        chunks were converted once per campaign: per recipient, only the slot values are
        encoded, instead of encoding and scanning some 40 KB of text for line breaks.
        """
        raw = self._raw(values)
        html_wire, text_wire = self._html_wire, self._text_wire
        if html_wire is None or text_wire is None or _has_line_break(raw.values()):
            html, text = self.fill(values)
            return canonical_text(html.encode("utf-8")), canonical_text(text.encode("utf-8"))
        try:
            html_parts = html_wire.copy()
            for pos, slot in self._html_pos:
                html_parts[pos] = escape(raw[slot]).encode("utf-8")
            text_parts = text_wire.copy()
            for pos, slot in self._text_pos:
                text_parts[pos] = raw[slot].encode("utf-8")
        except KeyError:
            raise self._missing(raw) from None
        # mypy: every None placeholder has just been replaced by bytes.
        return (
            _final_crlf(b"".join(html_parts)),  # type: ignore[arg-type]
            _final_crlf(b"".join(text_parts)),  # type: ignore[arg-type]
        )

    def _raw(self, values: Mapping[str, str]) -> dict[str, str]:
        # The name as it is filled in: controls and line breaks dropped, cut, or the fallback.
        raw = dict(values)
        name = (raw.get(SLOT_NAME) or "").translate(_NAME_CONTROLS).strip()
        raw[SLOT_NAME] = name[:NAME_MAX_CHARS] or self.name_fallback
        return raw

    def _missing(self, raw: Mapping[str, str]) -> MissingSlotError:
        missing = sorted(self.slot_names - raw.keys())
        return MissingSlotError(f"no value for slot(s): {', '.join(missing)}")

    def html_bytes_worst_case(self) -> int:
        """UTF-8 size of the HTML part with every slot at its worst-case length."""
        literal = sum(len(chunk.encode("utf-8")) for chunk in self.html.chunks)
        slots = sum(
            WORST_CASE_NAME_BYTES if slot == SLOT_NAME else WORST_CASE_URL_BYTES
            for slot in self.html.slots
        )
        return literal + slots

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (for a DB column or Redis)."""
        return {
            "version": COMPILED_FORMAT_VERSION,
            "html": self.html.to_dict(),
            "text": self.text.to_dict(),
            "name_fallback": self.name_fallback,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CompiledEmail:
        """Rebuild from :meth:`to_dict` output; raises ValueError on another format version."""
        if d.get("version") != COMPILED_FORMAT_VERSION:
            raise ValueError(f"unsupported compiled email version {d.get('version')!r}")
        return cls(
            html=_Part.from_dict(d["html"]),
            text=_Part.from_dict(d["text"]),
            name_fallback=str(d.get("name_fallback", "")),
        )


def compile_email(html: str, text: str, markers: SlotMarkers, name_fallback: str) -> CompiledEmail:
    """Split rendered HTML and text at the slot markers."""
    return CompiledEmail(
        html=_Part.split(html, markers),
        text=_Part.split(text, markers),
        name_fallback=name_fallback,
    )


def base64_size(n_bytes: int) -> int:
    """Bytes of ``n_bytes`` as a MIME base64 body: 4 per 3, plus CRLF every 76 characters."""
    encoded = 4 * math.ceil(n_bytes / 3)
    return encoded + 2 * math.ceil(encoded / BASE64_LINE_CHARS)
