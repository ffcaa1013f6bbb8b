"""Subscriber files that would eat the machine are refused with a reason, and a file that
held nothing to import is an error, not "added 0" (issue 13, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import containers
from service.subscribers import tabular
from service.subscribers.tabular import FileFormatError, count_rows, iter_rows, iter_xlsx, sniff
from tests.bombs import MIB, forge_size, sheet_xml, small_xlsx, xlsx_bomb, xlsx_with_sheet


def _saved(tmp_path: Path, data: bytes, name: str = "7.upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_workbook_whose_sheet_unpacks_past_the_cap_is_refused_before_openpyxl_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _saved(tmp_path, xlsx_bomb(65 * MIB))
    assert path.stat().st_size < 1 * MIB

    def no_openpyxl(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("openpyxl opened the bomb")

    monkeypatch.setattr(tabular, "_load_workbook", no_openpyxl)
    with pytest.raises(FileFormatError) as caught:
        sniff(path)
    assert caught.value.code == "file.workbook_refused"
    assert "xl/worksheets/sheet1.xml unpacks to more than 64 MB" in str(caught.value)


def test_a_sheet_that_lies_about_its_size_is_refused_as_damaged(tmp_path: Path) -> None:
    honest = xlsx_bomb(65 * MIB)
    path = _saved(tmp_path, forge_size(honest, "xl/worksheets/sheet1.xml", 4096))
    with pytest.raises(FileFormatError) as caught:
        sniff(path)
    assert caught.value.params["error"].code == "container.damaged_part"


def test_a_claimed_dimension_of_the_whole_sheet_adds_no_cells_and_no_rows(
    tmp_path: Path,
) -> None:
    rows = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>a@example.org</t></is></c></row>'
    )
    path = _saved(tmp_path, xlsx_with_sheet(sheet_xml(rows, "A1:XFD5")))
    assert list(iter_xlsx(path)) == [(1, ["email"]), (2, ["a@example.org"])]


def test_a_value_far_to_the_right_is_refused_not_padded_to(tmp_path: Path) -> None:
    rows = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c><c r="XFD1"><v>1</v></c></row>'
    )
    path = _saved(tmp_path, xlsx_with_sheet(sheet_xml(rows)))
    with pytest.raises(FileFormatError) as caught:
        list(iter_xlsx(path))
    assert caught.value.code == "file.too_many_columns"
    assert "row 1 has values in more than 200 columns" in str(caught.value)


def test_a_row_number_beyond_excels_last_row_is_refused(tmp_path: Path) -> None:
    rows = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
        '<row r="1048577"><c r="A1048577" t="inlineStr"><is><t>x@example.org</t></is></c></row>'
    )
    path = _saved(tmp_path, xlsx_with_sheet(sheet_xml(rows)))
    with pytest.raises(FileFormatError) as caught:
        list(iter_xlsx(path))
    assert caught.value.code == "file.too_many_rows"


def test_reading_a_sheet_stops_when_its_parse_budget_is_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter(float(n) for n in range(10_000))
    monkeypatch.setattr(containers.time, "monotonic", lambda: next(ticks))  # 1 s a call
    path = _saved(tmp_path, small_xlsx([["email"]] + [[f"u{n}@example.org"] for n in range(50)]))
    with pytest.raises(FileFormatError) as caught:
        list(iter_xlsx(path, seconds=20))
    assert caught.value.params["error"].code == "container.too_slow"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("header.csv", "邮箱,姓名\n".encode()),
        ("header-and-blank-lines.csv", "邮箱,姓名\n,\n ,\n".encode()),
        ("header.xlsx", small_xlsx([["邮箱", "姓名"], [None, None]])),
    ],
)
def test_a_file_with_only_a_header_row_is_an_error(tmp_path: Path, name: str, data: bytes) -> None:
    with pytest.raises(FileFormatError) as caught:
        sniff(_saved(tmp_path, data, name))
    assert caught.value.code == "file.no_data_rows"


def test_the_row_estimate_of_a_refused_workbook_is_refused_too(tmp_path: Path) -> None:
    path = _saved(tmp_path, xlsx_bomb(65 * MIB))
    info = tabular.TableInfo("xlsx", "xlsx", "", ["email"])
    with pytest.raises(FileFormatError):
        count_rows(path, info)
    with pytest.raises(FileFormatError):
        list(iter_rows(path, info))
