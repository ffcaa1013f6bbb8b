"""Reading subscriber files as people really make them: CSV in UTF-8, UTF-8 with a BOM or
GB18030/GBK (what Excel on a Chinese Windows writes), with commas, semicolons or tabs, and
XLSX workbooks. Rows are streamed: nothing here holds the whole file in memory, and a
workbook is checked (``service.containers``) before openpyxl unpacks it."""

from __future__ import annotations

import codecs
import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from service.containers import XLSX_LIMITS, ContainerError, ParseBudget, check_zip
from service.errors import DomainError

# How much of the file is decoded to guess its delimiter and show a preview.
SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 50
# Read size while checking the encoding over the whole file (stays flat in memory).
SCAN_CHUNK_BYTES = 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
# A field longer than this is not a spreadsheet cell but a broken quote swallowing lines.
MAX_FIELD_CHARS = 100_000
PREVIEW_ROWS = 5
# A subscriber sheet has a few columns (a CRM export a few dozen); a value further right is
# refused rather than converted: one cell at column XFD would make every row 16,384 wide.
MAX_XLSX_COLUMNS = 200
# Excel's own limit: a row number beyond it was not written by a spreadsheet program.
MAX_XLSX_ROWS = 1_048_576
# Seconds of parsing a sheet may take: a whole import (≈ 300,000 rows at the size cap take
# ≈ 60 s on 2 cores), and the few rows read while the web request shows the mapping page.
XLSX_READ_SECONDS = 300.0
XLSX_SNIFF_SECONDS = 5.0
XLSX_MAGIC = b"PK\x03\x04"
# Old binary formats people pick by mistake: .xls (OLE2), PDF, images, archives; each
# with the code of its error (``file.<kind>``) and what it is in English.
BINARY_MAGICS = {
    b"\xd0\xcf\x11\xe0": ("xls", "an old Excel .xls (or Word) file — save it as .xlsx or CSV"),
    b"%PDF": ("pdf", "a PDF document"),
    b"\x89PNG": ("png", "a PNG image"),
    b"\xff\xd8\xff": ("jpeg", "a JPEG image"),
    b"\x1f\x8b": ("gzip", "a gzip archive"),
}
ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "gb18030": "GB18030 (GBK)",
    "utf-16": "UTF-16",
    "xlsx": "XLSX",
}

csv.field_size_limit(MAX_FIELD_CHARS)


class FileFormatError(DomainError, ValueError):
    """The file cannot be read as a table; the message tells the person what to do."""


@dataclass
class TableInfo:
    """What sniffing found: the kind, encoding, delimiter, header and a few rows."""

    kind: str  # csv | xlsx
    encoding: str  # codec name, or "xlsx"
    delimiter: str
    headers: list[str]
    preview: list[list[str]] = field(default_factory=list)
    has_header: bool = True

    @property
    def encoding_label(self) -> str:
        """A name for people: "GB18030 (GBK)", "UTF-8 with BOM", ..."""
        return ENCODING_LABELS.get(self.encoding, self.encoding)


def _head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def _decodes_whole_file(path: Path, codec: str) -> bool:
    # An incremental decoder over the whole file: a GBK file whose first Chinese character
    # sits after the sniffed head must not be mistaken for UTF-8.
    decoder = codecs.getincrementaldecoder(codec)("strict")
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(SCAN_CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_kind_and_encoding(path: Path) -> tuple[str, str]:
    """Return ``(kind, encoding)``: ``("xlsx", "xlsx")`` or ``("csv", codec)``.

    Raises ``FileFormatError`` for an empty file, a binary file or an unknown encoding.
    """
    head = _head(path)
    if not head.strip():
        raise FileFormatError("file.empty", "the file is empty")
    if head.startswith(XLSX_MAGIC):
        return "xlsx", "xlsx"
    for magic, (kind, what) in BINARY_MAGICS.items():
        if head.startswith(magic):
            raise FileFormatError(f"file.{kind}", f"this is {what}, not a CSV or XLSX file")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if _decodes_whole_file(path, "utf-16"):
            return "csv", "utf-16"  # Excel's "Unicode text" export
        raise FileFormatError(
            "file.bad_utf16", "the file starts with a UTF-16 mark but is not valid UTF-16"
        )
    if b"\0" in head:
        raise FileFormatError("file.binary", "this is a binary file, not a CSV or XLSX file")
    if head.startswith(codecs.BOM_UTF8):
        if _decodes_whole_file(path, "utf-8-sig"):
            return "csv", "utf-8-sig"
        raise FileFormatError(
            "file.bad_utf8", "the file starts with a UTF-8 mark but is not valid UTF-8"
        )
    for codec in ("utf-8", "gb18030"):
        if _decodes_whole_file(path, codec):
            return "csv", codec
    raise FileFormatError(
        "file.unknown_encoding",
        "the file is neither UTF-8 nor GB18030/GBK text; save it from Excel as "
        "'CSV UTF-8' or as .xlsx",
    )


def _score(lines: list[str], delimiter: str) -> tuple[int, int]:
    # A delimiter is good when most rows split into the same number (> 1) of fields.
    counts = Counter(len(row) for row in csv.reader(lines, delimiter=delimiter) if row)
    if not counts:
        return 0, 0
    width, rows = counts.most_common(1)[0]
    return (rows if width > 1 else 0), width


def sniff_delimiter(sample: str) -> str:
    """The delimiter among comma, semicolon, tab and bar that splits the sample most
    consistently; a comma when the file has a single column."""
    lines = [line for line in sample.splitlines()[:SNIFF_LINES] if line.strip()]
    if len(lines) > 1 and not sample.endswith("\n"):
        lines = lines[:-1]  # the head may cut the last line in half
    best = max(DELIMITERS, key=lambda d: (_score(lines, d), -DELIMITERS.index(d)))
    return best if _score(lines, best)[0] else ","


def _looks_like_address(cell: str) -> bool:
    text = cell.strip()
    return "@" in text and " " not in text and "." in text.rpartition("@")[2]


def open_text(path: Path, encoding: str) -> IO[str]:
    """The file as text in ``encoding`` (newline="" as the csv module wants)."""
    return path.open("r", encoding=encoding, newline="")


def sniff(path: Path) -> TableInfo:
    """Look at a file: kind, encoding, delimiter, header row and a short preview."""
    kind, encoding = detect_kind_and_encoding(path)
    if kind == "xlsx":
        rows = iter_xlsx(path, XLSX_SNIFF_SECONDS)
        delimiter = ""
    else:
        with open_text(path, encoding) as fh:
            sample = fh.read(SNIFF_BYTES)
        delimiter = sniff_delimiter(sample)
        rows = iter_csv(path, encoding, delimiter)
    first: list[list[str]] = []
    for _line, cells in rows:
        first.append(cells)
        if len(first) > PREVIEW_ROWS:
            break
    if hasattr(rows, "close"):
        rows.close()
    if not first:
        raise FileFormatError("file.no_rows", "the file has no rows")
    header = first[0]
    has_header = not any(_looks_like_address(c) for c in header)
    if has_header and len(first) == 1:
        raise FileFormatError("file.no_data_rows", "the file has a header row but no data rows")
    headers = header if has_header else [f"column {i + 1}" for i in range(len(header))]
    headers = _unique_headers(headers)
    preview = first[1:] if has_header else first[:PREVIEW_ROWS]
    return TableInfo(kind, encoding, delimiter, headers, preview, has_header)


def _unique_headers(headers: list[str]) -> list[str]:
    # Blank or repeated header cells still need distinct names for the mapping step.
    seen: Counter[str] = Counter()
    result = []
    for i, raw in enumerate(headers):
        name = (raw or "").strip().lstrip("\ufeff") or f"column {i + 1}"
        seen[name] += 1
        result.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return result


def iter_csv(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, cells)`` for each non-empty record; the line number is the
    physical line where the record starts (a quoted field may span lines)."""
    with open_text(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        start = 1
        try:
            for cells in reader:
                line = start
                start = reader.line_num + 1
                if any(c.strip() for c in cells):
                    yield line, cells
        except csv.Error as exc:
            raise FileFormatError(
                "file.bad_quoting",
                "line %(line)s: the CSV quoting is broken (%(error)s); check for an unclosed quote",
                line=start,
                error=str(exc),
            ) from exc


def iter_xlsx(path: Path, seconds: float = XLSX_READ_SECONDS) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(row number, cells as text)`` from the first sheet, streamed (read_only).

    Raises ``FileFormatError`` for a workbook that unpacks to too much, a row wider than
    ``MAX_XLSX_COLUMNS`` or beyond ``MAX_XLSX_ROWS``, or more than ``seconds`` of parsing.
    """
    budget = ParseBudget(seconds)
    budget.resume()
    with path.open("rb") as fh:
        workbook = _open_checked(fh)
        try:
            sheet = _first_sheet(workbook)
            # The recorded dimension is the sheet's own claim: "A1:XFD1048576" would pad
            # every row to 16,384 cells and add a million empty rows after the last one.
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True)
            for number, values in enumerate(_undamaged(rows), start=1):
                _check(budget)
                if number > MAX_XLSX_ROWS:
                    raise FileFormatError(
                        "file.too_many_rows",
                        "the sheet has more than %(max)s rows",
                        max=MAX_XLSX_ROWS,
                    )
                if _is_blank(values):
                    continue
                cells = [
                    "" if v is None else _cell_text(v) for v in _within_columns(number, values)
                ]
                if any(c.strip() for c in cells):
                    budget.pause()  # the consumer's time (writing rows) is not parsing
                    yield number, cells
                    budget.resume()
        finally:
            workbook.close()


def _is_blank(values: Sequence[Any]) -> bool:
    # In C: a million empty rows (a gap in the row numbers) cost a second, not minutes.
    return values.count(None) == len(values)


def _within_columns(number: int, values: Sequence[Any]) -> Sequence[Any]:
    extra = values[MAX_XLSX_COLUMNS:]
    if extra.count(None) != len(extra):
        raise FileFormatError(
            "file.too_many_columns",
            "row %(line)s has values in more than %(max)s columns",
            line=number,
            max=MAX_XLSX_COLUMNS,
        )
    return values[:MAX_XLSX_COLUMNS]


def _check(budget: ParseBudget) -> None:
    try:
        budget.check()
    except ContainerError as exc:
        raise _refused(exc) from exc


def _refused(exc: ContainerError) -> FileFormatError:
    return FileFormatError(
        "file.workbook_refused", "the workbook cannot be imported: %(error)s", error=exc.detail
    )


def _open_checked(fh: IO[bytes], data_only: bool = True) -> Any:
    """The workbook in ``fh`` once ``check_zip`` found it safe to unpack."""
    try:
        check_zip(fh, XLSX_LIMITS)
    except ContainerError as exc:
        raise _refused(exc) from exc
    try:
        return _load_workbook(fh, data_only=data_only)
    except Exception as exc:  # zipfile/openpyxl raise many kinds for a damaged file
        raise _bad_workbook(exc) from exc


def _bad_workbook(error: object) -> FileFormatError:
    return FileFormatError(
        "file.bad_workbook", "the workbook cannot be opened: %(error)s", error=str(error)
    )


def _first_sheet(workbook: Any) -> Any:
    if not workbook.worksheets:  # a workbook.xml that lists no sheet
        raise _bad_workbook("it has no worksheet")
    return workbook.worksheets[0]


def _undamaged(rows: Iterator[Any]) -> Iterator[Any]:
    # read_only reads the sheet's XML while iterating: the damage of a broken zip member
    # or sheet (a bad CRC, malformed XML, a cell openpyxl cannot read) shows up only here.
    try:
        yield from rows
    except Exception as exc:
        raise _bad_workbook(exc) from exc


def _load_workbook(fh: IO[bytes], data_only: bool = False) -> Any:
    """The workbook in the open file, streamed (read_only).

    Given a path, openpyxl judges the file by its name and refuses ``.upload`` (how an
    uploaded file waits for the worker); given the open file, it reads the contents. The
    kind was already told from the bytes (``detect_kind_and_encoding``).
    """
    from openpyxl import load_workbook

    return load_workbook(fh, read_only=True, data_only=data_only)


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number or member id typed as a number
    return str(value)


def iter_rows(path: Path, info: TableInfo) -> Iterator[tuple[int, list[str]]]:
    """Every data row (the header skipped when there is one)."""
    rows = iter_xlsx(path) if info.kind == "xlsx" else iter_csv(path, info.encoding, info.delimiter)
    first = True
    for line, cells in rows:
        if first and info.has_header:
            first = False
            continue
        first = False
        yield line, cells


def count_rows(path: Path, info: TableInfo) -> int:
    """A quick estimate of the data rows, for the progress bar (lines, or the sheet's
    recorded size)."""
    if info.kind == "xlsx":
        with path.open("rb") as fh:
            workbook = _open_checked(fh, data_only=False)
            try:
                total = _first_sheet(workbook).max_row or 0
            finally:
                workbook.close()
    else:
        total = 0
        last = b"\n"
        with path.open("rb") as fh:
            while chunk := fh.read(SCAN_CHUNK_BYTES):
                total += chunk.count(b"\n")
                last = chunk[-1:]
        total += last != b"\n"
    return max(0, total - (1 if info.has_header else 0))
