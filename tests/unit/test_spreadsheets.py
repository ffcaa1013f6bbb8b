"""Downloads open in Excel as text, Chinese intact, and no cell runs as a formula."""

from __future__ import annotations

import codecs
import csv
import io

from openpyxl import load_workbook

from service.spreadsheets import csv_pieces, safe_cell, write_xlsx

ROWS = [
    ["email", "reason", "count"],
    ["王立@example.org", '=HYPERLINK("http://evil")', 3],
    ["b@example.org", "-2+3", 0],
    ["c@example.org", "550 5.1.1 用户不存在", None],
]


def test_cells_that_excel_would_run_as_formulas_are_quoted() -> None:
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("plain") == "plain" and safe_cell(None) == "" and safe_cell(7) == 7


def test_csv_starts_with_a_bom_and_reads_back_with_quoted_formulas() -> None:
    data = b"".join(csv_pieces(ROWS))
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1] == ["王立@example.org", '\'=HYPERLINK("http://evil")', "3"]
    assert rows[2][1] == "'-2+3" and rows[3][1] == "550 5.1.1 用户不存在"


def test_xlsx_keeps_numbers_and_quotes_formulas() -> None:
    out = io.BytesIO()
    write_xlsx(ROWS, out, "outcomes")
    sheet = load_workbook(io.BytesIO(out.getvalue()))["outcomes"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1] == ["王立@example.org", '\'=HYPERLINK("http://evil")', 3]
    assert values[3][2] in ("", None)
