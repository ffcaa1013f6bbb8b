"""Tables people download (subscribers, per-recipient outcomes) as CSV or XLSX, streamed.

CSV is UTF-8 with a BOM, so Excel (as the association uses it) shows Chinese correctly.
Every cell that Excel would read as a formula is prefixed with a quote (CSV injection):
subscriber names and bounce texts come from outside.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

ROWS_PER_PIECE = 1000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The cell as written: text starting like a formula gets a leading quote."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_pieces(rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """The CSV file in pieces: the BOM, then about ``ROWS_PER_PIECE`` rows per piece."""
    yield codecs.BOM_UTF8
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for n, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(c) for c in row])
        if n % ROWS_PER_PIECE == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_xlsx(rows: Iterable[Sequence[Any]], out: IO[bytes] | str, sheet: str) -> None:
    """Write the rows to an XLSX file with openpyxl's write-only (streaming) workbook."""
    write_xlsx_sheets([(sheet, rows)], out)


def write_xlsx_sheets(
    sheets: Iterable[tuple[str, Iterable[Sequence[Any]]]], out: IO[bytes] | str
) -> None:
    """Write each (name, rows) as a sheet of one XLSX file, in order, streaming."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for name, rows in sheets:
        worksheet = workbook.create_sheet(name)
        for row in rows:
            worksheet.append([safe_cell(c) for c in row])
    workbook.save(out)
