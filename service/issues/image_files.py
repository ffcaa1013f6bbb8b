"""Uploaded image files checked by their own bytes: the type and pixel size read from the
header, so a renamed document or a script never passes as an image.

No image library is installed: PNG, JPEG, GIF and WebP say their size in a few fixed
bytes near the start. The logo (``service.issues.logo``) and the images of articles
(``service.issues.images``) both check their uploads here.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Collection
from dataclasses import dataclass

from service.errors import DomainError

# Where the service serves the images of articles (``service.issues.images``): the
# address carries the pixel size, so a renderer knows it without the database.
IMAGE_PATH = "/images"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
# The file name ending each type is served with.
SUFFIXES = {PNG: ".png", JPEG: ".jpg", GIF: ".gif", WEBP: ".webp"}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
# JPEG start-of-frame markers (baseline, progressive, ...) carry the size; C4, C8 and CC
# share the range but are other segments.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# A lossy WebP frame starts with this code after its 3-byte frame tag; a lossless one
# with this signature byte.
_VP8_START = b"\x9d\x01\x2a"
_VP8L_SIGNATURE = 0x2F
_SIZED = re.compile(rf"{IMAGE_PATH}/[A-Za-z0-9_-]+/([0-9]{{1,5}})x([0-9]{{1,5}})/[^/?#]+\Z")


class ImageError(DomainError, ValueError):
    """The upload is not an image we can use; ``code`` is ``image.*``, the message says why."""


@dataclass(frozen=True)
class ImageFile:
    """A checked image: its bytes, MIME type and size in pixels."""

    data: bytes
    mime: str
    width: int
    height: int


def image_size(data: bytes) -> tuple[str, int, int]:
    """``(mime, width, height)`` of a PNG, JPEG, GIF or WebP, from its header.

    Raises :class:`ImageError` (``image.not_an_image``) for anything else, or a header
    cut short.
    """
    if data.startswith(PNG_SIGNATURE):
        # The first chunk is IHDR: length, type, then width and height (big-endian).
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise _not_an_image()
        width, height = struct.unpack(">II", data[16:24])
        return PNG, width, height
    if data.startswith(JPEG_SOI):
        return JPEG, *_jpeg_size(data)
    if data[:6] in GIF_SIGNATURES and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return GIF, width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        return WEBP, *_webp_size(data)
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


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == _VP8_START:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == _VP8L_SIGNATURE:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        # The canvas size, 24-bit little-endian, minus one.
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise _not_an_image()


def _not_an_image() -> ImageError:
    return ImageError("image.not_an_image", "the file is not an image")


def check_image(data: bytes, *, max_bytes: int, max_side: int, types: Collection[str]) -> ImageFile:
    """``data`` as an :class:`ImageFile` of one of ``types`` within the limits.

    Raises :class:`ImageError`: ``image.too_large`` (params ``size``, ``limit`` in KB),
    ``image.not_an_image``, ``image.wrong_type`` (an image of a type not in ``types``) or
    ``image.bad_dimensions`` (``width``, ``height``, ``limit``).
    """
    if len(data) > max_bytes:
        raise ImageError(
            "image.too_large",
            "the image is %(size)s KB; at most %(limit)s KB",
            size=(len(data) + 1023) // 1024,
            limit=max_bytes // 1024,
        )
    mime, width, height = image_size(data)
    if mime not in types:
        raise ImageError("image.wrong_type", "images of type %(mime)s are not taken", mime=mime)
    if not (0 < width <= max_side and 0 < height <= max_side):
        raise ImageError(
            "image.bad_dimensions",
            "the image is %(width)s × %(height)s pixels; each side must be 1 to %(limit)s",
            width=width,
            height=height,
            limit=max_side,
        )
    return ImageFile(data, mime, width, height)


def size_in_url(url: str) -> tuple[int, int] | None:
    """``(width, height)`` carried by the address of an uploaded image, else None."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    match = _SIZED.search(path)
    if match is None:
        return None
    width, height = int(match.group(1)), int(match.group(2))
    return (width, height) if width > 0 and height > 0 else None
