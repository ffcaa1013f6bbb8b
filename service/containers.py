"""Uploaded ZIP containers (.docx, .xlsx) checked before any parser opens them, and a
budget of parsing time.

A .docx or .xlsx is a ZIP file whose parts a parser unpacks and reads in full: a 66 KB
.docx whose ``word/document.xml`` unpacks to 64 MiB of XML held a web request for a
minute, and a 1 MB .xlsx (a 1 GiB sheet) took 3.9 GB of memory (issue 13). So before
mammoth or openpyxl sees an upload, :func:`check_zip` reads the end record and the central
directory (how many parts, how large each claims to be, how tightly each is compressed) and
then unpacks every part once, counting the bytes that really come out and stopping as soon
as a part passes its cap: a forged size in the directory cannot smuggle more past the
check, and the parsers afterwards read exactly the bytes that were counted (CPython's
``zipfile`` stops a part at its declared size and checks its CRC there).

:class:`ParseBudget` bounds the time a parser loop may take (the rows of a sheet), where
size alone does not bound it: a small sheet can claim a million empty rows.
"""

from __future__ import annotations

import io
import lzma
import struct
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from service.errors import DomainError

MB = 1024 * 1024
# Unpacked in pieces of this size: memory stays at one piece whatever the part claims.
READ_CHUNK_BYTES = 64 * 1024
# Parts smaller than this may be compressed as tightly as they like (a run of empty
# elements); the ratio only tells a bomb from a document once a part is large.
RATIO_FLOOR_BYTES = 1 * MB
# The end-of-central-directory record: signature, then (at offset 10) the total number of
# entries (2 bytes) and the size of the directory (4 bytes); a comment of at most 64 KiB
# may follow it.
_EOCD_SIGNATURE = b"PK\x05\x06"
_EOCD_MIN_BYTES = 22
_EOCD_MAX_COMMENT = 0xFFFF
# A central-directory entry is 46 bytes plus its name and extra fields; a real part name
# is short, so a directory larger than this per allowed part is padding or an attack.
MAX_DIRECTORY_BYTES_PER_MEMBER = 1024
# Parts that a parser reads whole as XML (the rest are pictures and other media).
XML_SUFFIXES = (".xml", ".rels", ".vml")


# What CPython's zipfile raises on a damaged or forged container besides BadZipFile (all
# found by the fuzzer, tests/fuzz): a version or compression method it does not know
# (NotImplementedError), a header offset before the start of the file ("negative seek
# value", ValueError), a name that is not the UTF-8 its flag claims (UnicodeDecodeError, a
# ValueError), a truncated record (struct.error, EOFError), a broken deflate, bzip2 or LZMA
# stream (zlib.error, OSError, lzma.LZMAError), an encrypted part (RuntimeError).
ZIP_READ_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    NotImplementedError,
    ValueError,
    struct.error,
    EOFError,
    OSError,
    zlib.error,
    lzma.LZMAError,
    RuntimeError,
    OverflowError,
)


@dataclass(frozen=True)
class ZipLimits:
    """How much one kind of container may unpack to (every size in bytes)."""

    max_total_bytes: int
    max_member_bytes: int  # any part (a picture in a .docx)
    max_xml_bytes: int  # a part parsed as XML: this bounds the parse time
    max_members: int
    max_ratio: int  # unpacked / packed, for parts above RATIO_FLOOR_BYTES
    # Tags ("<", opening and closing) in one XML part: mammoth's time goes by elements, not
    # bytes (1 MB of tiny paragraphs takes longer than 3 MB of prose). None: no cap (the
    # parser has a time budget instead).
    max_xml_elements: int | None = None


@dataclass(frozen=True)
class ZipSummary:
    """What a checked container unpacks to: bytes in all, and tags in its largest XML part
    (how long a parser will take)."""

    unpacked_bytes: int
    xml_elements: int


# A .docx: a quarterly journal of 40 pages unpacks to a few MB of XML (word/document.xml
# ≈ 1–3 MB; 2,000 paragraphs of ≈ 25 tags, opening and closing: ≈ 50,000 "<") plus its
# pictures. mammoth and the importer take ≈ 0.8 s per MB of prose and ≈ 26 µs per tag on
# the production machine (2 cores, measured): 8 MB and 200,000 tags (4× a large real
# issue) bound a parse to ≈ 5 s, however the XML is shaped (1 MB of one-letter paragraphs
# took 9 s, 2 MB 25 s before). 200 MB in all leaves room for dozens of full-resolution
# photos; 2,000 parts for as many pictures. Deflate packs a run of one byte about
# 1,030:1; real Word XML packs 8–20:1, very repetitive XML up to ≈ 200:1.
DOCX_LIMITS = ZipLimits(
    max_total_bytes=200 * MB,
    max_member_bytes=50 * MB,
    max_xml_bytes=8 * MB,
    max_members=2000,
    max_ratio=500,
    max_xml_elements=200_000,
)
# An .xlsx of subscribers: 50,000 rows of three columns are an 11 MB sheet, read in ≈ 2 s;
# 64 MB per part is ≈ 300,000 rows (inline strings) or more with shared strings, whose part
# openpyxl holds in memory (a few hundred MB at this cap, never gigabytes). A workbook
# has a handful of parts; 1,000 allows many sheets.
XLSX_LIMITS = ZipLimits(
    max_total_bytes=128 * MB,
    max_member_bytes=64 * MB,
    max_xml_bytes=64 * MB,
    max_members=1000,
    max_ratio=500,
)


class ContainerError(DomainError, ValueError):
    """The upload is not a ZIP container we are willing to unpack; the message says why."""


def _mb(size: int) -> str:
    return f"{size / MB:g}"


def _too_many(limits: ZipLimits) -> ContainerError:
    return ContainerError(
        "container.too_many_parts",
        "the file holds more than %(max)s parts, far more than a real document",
        max=limits.max_members,
    )


def _end_record(fh: IO[bytes]) -> tuple[int, int]:
    """``(entries, directory size)`` from the end record, before ``zipfile`` parses the
    directory: a directory of a million entries would cost gigabytes as ``ZipInfo``."""
    fh.seek(0, 2)
    size = fh.tell()
    tail_size = min(size, _EOCD_MIN_BYTES + _EOCD_MAX_COMMENT)
    fh.seek(size - tail_size)
    tail = fh.read(tail_size)
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or len(tail) - at < _EOCD_MIN_BYTES:
        raise ContainerError("container.damaged", "the file is not a readable ZIP container")
    entries, directory = struct.unpack_from("<HI", tail, at + 10)
    fh.seek(0)
    return entries, directory


def _member_cap(info: zipfile.ZipInfo, limits: ZipLimits) -> int:
    if info.filename.lower().endswith(XML_SUFFIXES):
        return min(limits.max_xml_bytes, limits.max_member_bytes)
    return limits.max_member_bytes


def _member_too_large(info: zipfile.ZipInfo, cap: int) -> ContainerError:
    return ContainerError(
        "container.part_too_large",
        "its part %(part)s unpacks to more than %(mb)s MB",
        part=info.filename[:200],
        mb=_mb(cap),
    )


def _check_directory(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    """Refuse on what the central directory says, before unpacking anything."""
    if len(infos) > limits.max_members:
        raise _too_many(limits)
    total = 0
    for info in infos:
        cap = _member_cap(info, limits)
        if info.file_size > cap:
            raise _member_too_large(info, cap)
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise ContainerError(
                "container.bomb",
                "its part %(part)s is compressed %(ratio)s to 1, as no real document is "
                "(a decompression bomb)",
                part=info.filename[:200],
                ratio=int(ratio),
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        raise _too_large(limits)


def _too_large(limits: ZipLimits) -> ContainerError:
    return ContainerError(
        "container.too_large",
        "the file unpacks to more than %(mb)s MB",
        mb=_mb(limits.max_total_bytes),
    )


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> Iterator[bytes]:
    """The unpacked bytes of one part in pieces of at most ``READ_CHUNK_BYTES``, stopping
    (``ContainerError``) as soon as more than ``cap`` bytes came out, whatever the
    directory claims: at most ``cap + READ_CHUNK_BYTES`` bytes are ever unpacked."""
    produced = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(READ_CHUNK_BYTES):
                produced += len(chunk)
                if produced > cap:
                    raise _member_too_large(info, cap)
                yield chunk
    except ContainerError:
        raise  # a part past its cap (a ValueError too): not damage
    except ZIP_READ_ERRORS as exc:
        # A CRC mismatch (the part is longer or other than its directory entry says), a
        # broken deflate stream, an unknown compression method, a truncated or encrypted
        # part, a local header at an offset outside the file.
        raise ContainerError(
            "container.damaged_part",
            "its part %(part)s is damaged (%(error)s)",
            part=info.filename[:200],
            error=str(exc)[:200],
        ) from exc


def check_zip(source: bytes | Path | IO[bytes], limits: ZipLimits) -> ZipSummary:
    """Refuse (``ContainerError``) a ZIP container that is damaged or unpacks to more than
    ``limits`` allow; when a parser may safely open it, say what it unpacks to.

    ``source`` is the file's bytes, its path or an open binary file (rewound on return).
    """
    if isinstance(source, Path):
        with source.open("rb") as fh:
            return _check_open(fh, limits)
    if isinstance(source, bytes):
        return _check_open(io.BytesIO(source), limits)
    summary = _check_open(source, limits)
    source.seek(0)
    return summary


def _check_open(fh: IO[bytes], limits: ZipLimits) -> ZipSummary:
    entries, directory = _end_record(fh)
    if entries > limits.max_members:
        raise _too_many(limits)
    if directory > limits.max_members * MAX_DIRECTORY_BYTES_PER_MEMBER:
        raise _too_many(limits)
    try:
        archive = zipfile.ZipFile(fh)
    except ZIP_READ_ERRORS as exc:
        raise ContainerError(
            "container.damaged", "the file is not a readable ZIP container"
        ) from exc
    with archive:
        infos = archive.infolist()
        _check_directory(infos, limits)
        unpacked = most_elements = 0
        for info in infos:
            is_xml = info.filename.lower().endswith(XML_SUFFIXES)
            elements = 0
            for chunk in read_member(archive, info, _member_cap(info, limits)):
                unpacked += len(chunk)
                if unpacked > limits.max_total_bytes:
                    raise _too_large(limits)
                if is_xml:
                    elements += chunk.count(b"<")
                    _check_elements(info, elements, limits)
            most_elements = max(most_elements, elements)
    return ZipSummary(unpacked, most_elements)


def _check_elements(info: zipfile.ZipInfo, elements: int, limits: ZipLimits) -> None:
    if limits.max_xml_elements is not None and elements > limits.max_xml_elements:
        raise ContainerError(
            "container.too_many_elements",
            "its part %(part)s holds more than %(max)s XML elements",
            part=info.filename[:200],
            max=limits.max_xml_elements,
        )


def unpacked_size(path: Path) -> int:
    """What the container at ``path`` unpacks to, as its directory says (``check_zip``
    made sure no part unpacks to more than it says)."""
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


class ParseBudget:
    """The parsing time one upload may take, counted only while the parser runs (a
    consumer that writes each row to the database between two reads does not spend it)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spent = 0.0
        self._since: float | None = None

    def resume(self) -> None:
        """The parser runs again (call before reading the next piece)."""
        self._since = time.monotonic()

    def pause(self) -> None:
        """The parser hands a piece to its consumer: the clock stops until ``resume``."""
        if self._since is not None:
            self.spent += time.monotonic() - self._since
            self._since = None

    def check(self) -> None:
        """Raise ``ContainerError`` once the parser has run longer than the budget."""
        running = time.monotonic() - self._since if self._since is not None else 0.0
        if self.spent + running > self.seconds:
            raise ContainerError(
                "container.too_slow",
                "reading the file took more than %(seconds)s seconds; split it into smaller files",
                seconds=f"{self.seconds:g}",
            )
