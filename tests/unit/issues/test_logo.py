"""The uploaded logo's checks (issue 16, item 1): PNG and JPEG sizes read from the
file's own header, other files and oversized ones refused."""

from __future__ import annotations

import struct
import zlib

import pytest

from service.issues.logo import MAX_LOGO_BYTES, LogoError, check_logo, image_size


def png(width: int, height: int) -> bytes:
    """A real (tiny, one-colour) PNG of the given size."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x1d\x4f\x91" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int, progressive: bool = False) -> bytes:
    """The head of a JPEG as cameras write it: SOI, an APP0 (JFIF) and an EXIF-sized
    APP1 segment, a DQT, then the start of frame that says the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 300) + b"Exif\x00\x00" + b"\x00" * 294
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(64)
    sof = b"\xff" + (b"\xc2" if progressive else b"\xc0")
    sof += struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + app1 + dqt + sof


def test_a_png_says_its_size_in_its_first_chunk() -> None:
    assert image_size(png(320, 96)) == ("image/png", 320, 96)


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_says_its_size_in_its_start_of_frame_past_other_segments(
    progressive: bool,
) -> None:
    assert image_size(jpeg_header(640, 200, progressive)) == ("image/jpeg", 640, 200)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + bytes(20),
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"\x89PNG\r\n\x1a\n" + bytes(4),  # cut off before IHDR
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # a JPEG that ends before its frame
        b"",
    ],
)
def test_other_files_are_refused_as_not_an_image(data: bytes) -> None:
    with pytest.raises(LogoError) as caught:
        check_logo(data)
    assert caught.value.code == "logo.not_an_image"


def test_a_logo_too_large_or_of_no_size_is_refused() -> None:
    with pytest.raises(LogoError) as big:
        check_logo(png(10, 10) + bytes(MAX_LOGO_BYTES))
    assert big.value.code == "logo.too_large"
    with pytest.raises(LogoError) as empty:
        check_logo(jpeg_header(0, 50))
    assert empty.value.code == "logo.bad_dimensions"


def test_a_png_whose_header_lies_is_refused() -> None:
    real = png(10, 10)
    # IHDR claims 100000 × 1 pixels: refused by its size, whatever the pixel data says.
    huge = real[:16] + struct.pack(">II", 100_000, 1) + real[24:]
    with pytest.raises(LogoError) as too_wide:
        check_logo(huge)
    assert too_wide.value.code == "logo.bad_dimensions"
    # The signature of a PNG, but the first chunk is not IHDR.
    not_first = real[:12] + b"IDAT" + real[16:]
    with pytest.raises(LogoError) as no_header:
        check_logo(not_first)
    assert no_header.value.code == "logo.not_an_image"
    # A JPEG segment whose length points past the end of the file.
    runaway = b"\xff\xd8\xff\xe1" + struct.pack(">H", 60_000) + bytes(20)
    with pytest.raises(LogoError) as cut:
        check_logo(runaway)
    assert cut.value.code == "logo.not_an_image"
