"""The association's logo, uploaded in the admin and served by the service at ``/logo``.

A PNG or JPEG of at most :data:`MAX_LOGO_BYTES`, kept in the settings store (base64
under :data:`LOGO_KEY`, so every web process on every machine serves the same one) with
its pixel size read from the file's own header: no image library is installed, and the
two formats say their size in a few fixed bytes. The mail header shows it with that
width and height scaled to the masthead, so a mail client lays the header out before the
image loads (and a reader who blocks images sees a box of the right size).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting, set_setting
from service.errors import DomainError

LOGO_KEY = "logo"
LOGO_PATH = "/logo"
# A masthead logo needs no more; a mail client downloads it for every reader.
MAX_LOGO_BYTES = 512 * 1024
MAX_SIDE_PX = 4000

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers (baseline, progressive, ...) carry the size; C4, C8 and CC
# share the range but are other segments.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class LogoError(DomainError, ValueError):
    """The upload is not a logo we can use; the message says why."""


@dataclass(frozen=True)
class Logo:
    """A stored logo: its bytes, MIME type and size in pixels."""

    data: bytes
    mime: str
    width: int
    height: int

    @property
    def version(self) -> str:
        """A short hash of the bytes: the URL changes with the image, so caches refresh."""
        return hashlib.sha256(self.data).hexdigest()[:12]

    def url(self, base_url: str) -> str:
        """The logo's public address (stable path, the version as a cache key)."""
        return f"{base_url.rstrip('/')}{LOGO_PATH}?v={self.version}"


def image_size(data: bytes) -> tuple[str, int, int]:
    """``(mime, width, height)`` of a PNG or JPEG, from its header; raises ``LogoError``."""
    if data.startswith(PNG_SIGNATURE):
        # The first chunk is IHDR: length, type, then width and height (big-endian).
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise _not_an_image()
        width, height = struct.unpack(">II", data[16:24])
        return "image/png", width, height
    if data.startswith(JPEG_SOI):
        return "image/jpeg", *_jpeg_size(data)
    raise _not_an_image()


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise _not_an_image()
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # stand-alone markers: no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if length < 2:
            break
        pos += 2 + length
    raise _not_an_image()


def _not_an_image() -> LogoError:
    return LogoError("logo.not_an_image", "the file is not a PNG or JPEG image")


def check_logo(data: bytes) -> Logo:
    """The upload as a ``Logo``: a PNG or JPEG within the size limits, or ``LogoError``."""
    if len(data) > MAX_LOGO_BYTES:
        raise LogoError(
            "logo.too_large",
            "the logo is %(size)s KB; at most %(limit)s KB",
            size=(len(data) + 1023) // 1024,
            limit=MAX_LOGO_BYTES // 1024,
        )
    mime, width, height = image_size(data)
    if not (0 < width <= MAX_SIDE_PX and 0 < height <= MAX_SIDE_PX):
        raise LogoError(
            "logo.bad_dimensions",
            "the logo is %(width)s × %(height)s pixels; each side must be 1 to %(limit)s",
            width=width,
            height=height,
            limit=MAX_SIDE_PX,
        )
    return Logo(data, mime, width, height)


def save_logo(session: Session, data: bytes) -> Logo:
    """Check and store an uploaded logo (replacing the earlier one)."""
    logo = check_logo(data)
    set_setting(
        session,
        LOGO_KEY,
        {
            "mime": logo.mime,
            "width": logo.width,
            "height": logo.height,
            "data": base64.b64encode(logo.data).decode("ascii"),
        },
    )
    return logo


def remove_logo(session: Session) -> None:
    """Forget the uploaded logo (the layout's logo URL, if any, applies again)."""
    set_setting(session, LOGO_KEY, None)


def stored_logo(session: Session) -> Logo | None:
    """The uploaded logo, or None."""
    value = get_setting(session, LOGO_KEY)
    if not isinstance(value, dict):
        return None
    try:
        return Logo(
            base64.b64decode(value["data"]), str(value["mime"]), value["width"], value["height"]
        )
    except (KeyError, TypeError, ValueError):
        return None
