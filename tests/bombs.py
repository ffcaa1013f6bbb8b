"""Hostile containers, built in the test: decompression bombs, forged sizes and swarms of
parts (issue 13, item 3). Each packs tens of MB into tens of KB, written in pieces so the
test itself never holds the unpacked bytes."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterable, Mapping, Sequence

from tests.documents import build_docx

MIB = 1024 * 1024
_PIECE = 1 * MIB
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"


def zip_of(parts: Mapping[str, Iterable[bytes]]) -> bytes:
    """A ZIP file (deflated) whose parts are written piece by piece."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, pieces in parts.items():
            with archive.open(name, "w", force_zip64=False) as out:
                for piece in pieces:
                    out.write(piece)
    return buffer.getvalue()


def repeated(unit: bytes, size: int, head: bytes = b"", tail: bytes = b"") -> Iterable[bytes]:
    """``head``, then ``unit`` repeated to about ``size`` bytes, then ``tail``."""
    yield head
    block = unit * max(1, _PIECE // len(unit))
    written = 0
    while written < size:
        yield block
        written += len(block)
    yield tail


def replace_part(container: bytes, name: str, pieces: Iterable[bytes]) -> bytes:
    """``container`` with its part ``name`` replaced by ``pieces`` (the rest kept)."""
    source = zipfile.ZipFile(io.BytesIO(container))
    parts: dict[str, Iterable[bytes]] = {
        info.filename: [source.read(info)] for info in source.infolist()
    }
    parts[name] = pieces
    return zip_of(parts)


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bomb(size: int) -> bytes:
    """A real .docx whose ``word/document.xml`` is ``size`` bytes of empty paragraphs
    (valid XML that mammoth would parse for a minute at 64 MiB)."""
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}"><w:body>'
    return replace_part(
        build_docx([("Heading1", [("Title", False, None)])]),
        "word/document.xml",
        repeated(b"<w:p/>", size, head.encode(), b"</w:body></w:document>"),
    )


def forge_size(container: bytes, name: str, size: int) -> bytes:
    """``container`` with the part ``name`` claiming to unpack to ``size`` bytes, in both
    its central-directory entry and its local header (a lie a bomb tells to pass a check
    on declared sizes)."""
    data = bytearray(container)
    encoded = name.encode()
    for signature, size_at, name_at in ((_CENTRAL, 24, 46), (_LOCAL, 22, 30)):
        at = data.find(signature)
        while at >= 0:
            if data[at + name_at : at + name_at + len(encoded)] == encoded:
                struct.pack_into("<I", data, at + size_at, size)
                break
            at = data.find(signature, at + 1)
    return bytes(data)


def swarm(count: int) -> bytes:
    """A ZIP file of ``count`` empty parts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for n in range(count):
            archive.writestr(f"p{n}", b"")
    return buffer.getvalue()


def small_xlsx(rows: Sequence[Sequence[object]]) -> bytes:
    """A real workbook (openpyxl) with ``rows`` on its first sheet."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_with_sheet(sheet_xml: Iterable[bytes]) -> bytes:
    """A real workbook whose first sheet's XML is ``sheet_xml``."""
    return replace_part(small_xlsx([["email"]]), "xl/worksheets/sheet1.xml", sheet_xml)


_S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_S}"><sheetData>'
SHEET_TAIL = "</sheetData></worksheet>"


def sheet_xml(rows: str, dimension: str | None = None) -> list[bytes]:
    """A sheet's XML around ``rows`` (``<row>`` elements), with a claimed dimension."""
    head = SHEET_HEAD
    if dimension:
        head = head.replace("<sheetData>", f'<dimension ref="{dimension}"/><sheetData>')
    return [(head + rows + SHEET_TAIL).encode()]


def xlsx_bomb(size: int) -> bytes:
    """A workbook whose sheet is ``size`` bytes of empty rows (the 1 GiB sheet, smaller)."""
    return xlsx_with_sheet(repeated(b"<row/>", size, SHEET_HEAD.encode(), SHEET_TAIL.encode()))
