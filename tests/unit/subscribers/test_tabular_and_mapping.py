"""Reading subscriber files (encodings, delimiters, bad input) and mapping their columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from service.mail.addresses import InvalidAddress, normalise
from service.subscribers import import_rows
from service.subscribers.import_columns import complete_mapping, guess_mapping, parse_map_options
from service.subscribers.import_rows import check_address
from service.subscribers.import_terms import ImportSetupError
from service.subscribers.query import decode_cursor, encode_cursor
from service.subscribers.tabular import FileFormatError, iter_rows, sniff, sniff_delimiter


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_gbk_file_from_excel_is_detected_and_read_with_its_chinese_names(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path, "会员.csv", "邮箱,姓名,单位\r\nwang@example.org,王立,大连某公司\r\n".encode("gbk")
    )
    info = sniff(path)
    assert info.encoding == "gb18030" and info.encoding_label == "GB18030 (GBK)"
    assert info.headers == ["邮箱", "姓名", "单位"]
    assert list(iter_rows(path, info)) == [(2, ["wang@example.org", "王立", "大连某公司"])]


def test_gbk_chinese_after_the_sniffed_head_is_still_detected(tmp_path: Path) -> None:
    ascii_rows = "".join(f"user{i}@example.org,name{i}\n" for i in range(5000)).encode()
    path = write(
        tmp_path, "late.csv", b"email,name\n" + ascii_rows + "李@example.org,李四\n".encode("gbk")
    )
    assert sniff(path).encoding == "gb18030"


def test_a_utf8_bom_is_detected_and_not_part_of_the_first_header(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", "\ufeffemail,name\na@example.org,张三\n".encode())
    info = sniff(path)
    assert info.encoding_label == "UTF-8 with BOM"
    assert info.headers == ["email", "name"]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("email;name;org\na@x.org;A;O\nb@x.org;B;O\n", ";"),
        ("email\tname\na@x.org\tA\nb@x.org\tB\n", "\t"),
        ('email,name\na@x.org,"Smith; John"\nb@x.org,B\n', ","),
        ("email\na@x.org\nb@x.org\n", ","),
    ],
)
def test_the_delimiter_is_sniffed(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text) == delimiter


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01\x02\x03binary\x00garbage" * 10, "binary"),
        (b"%PDF-1.7 something", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ".xls"),
        (b"   \n\n", "empty"),
        (bytes(range(0x80, 0x100)) * 4, "neither UTF-8 nor GB18030"),
        (b"\xff\xfe\xff\xff\xff\xff\xff", "UTF-16 mark"),  # found by tests/fuzz
    ],
)
def test_a_file_that_is_not_a_table_gets_a_clear_message(
    tmp_path: Path, data: bytes, message: str
) -> None:
    with pytest.raises(FileFormatError, match=message):
        sniff(write(tmp_path, "x.csv", data))


def test_empty_lines_are_skipped_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", b'email,name\n\na@x.org,"two\nlines"\n\nb@x.org,B\n')
    info = sniff(path)
    assert [line for line, _ in iter_rows(path, info)] == [3, 6]


def test_a_file_without_a_header_row_is_read_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.csv", b"a@x.org\nb@x.org\n")
    info = sniff(path)
    assert not info.has_header
    assert [cells for _, cells in iter_rows(path, info)] == [["a@x.org"], ["b@x.org"]]
    assert guess_mapping(info.headers) == {"column 1": "email"}


def test_an_xlsx_workbook_is_streamed_with_numbers_as_text(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["E-mail", "联系人", "会员编号"])
    sheet.append(["a@x.org", "王五", 1001])
    path = tmp_path / "m.xlsx"
    workbook.save(path)
    info = sniff(path)
    assert info.kind == "xlsx" and info.encoding_label == "XLSX"
    assert list(iter_rows(path, info)) == [(2, ["a@x.org", "王五", "1001"])]


def test_english_and_chinese_headers_map_without_asking() -> None:
    mapping = guess_mapping(["电子邮件", "姓名", "公司", "语言", "城市"])
    assert mapping == {
        "电子邮件": "email",
        "姓名": "name",
        "公司": "organisation",
        "语言": "language",
        "城市": "attribute",
    }
    assert guess_mapping(["E-Mail", "Company", "Name"])["Company"] == "organisation"


def test_map_options_override_the_guess_and_keep_one_column_per_field() -> None:
    mapping = complete_mapping(
        ["email", "backup", "手机"], parse_map_options(["backup=email", "手机=phone"])
    )
    assert mapping == {"email": "attribute", "backup": "email", "手机": "phone"}
    with pytest.raises(ImportSetupError, match="no column"):
        complete_mapping(["name", "city"], None)
    with pytest.raises(ImportSetupError, match="there is no column"):
        complete_mapping(["email"], {"nope": "name"})
    with pytest.raises(ImportSetupError, match="COLUMN=FIELD"):
        parse_map_options(["email"])


@pytest.mark.parametrize(
    "raw",
    [
        "Wang.Li@Example.ORG",
        "a+tag@sub.example.com",
        "user@例子.中国",
        "用户@example.org",
        "x@bücher.de",
        "o'brien@example.ie",
        "a..b@example.org",
        ".a@example.org",
        "a@localhost",
        "a@example",
        "a@-bad-.org",
        "a@test",
        "a" * 65 + "@example.org",
        "a@" + "b" * 250 + ".org",
        "  spaced@example.org  ",
        "no-at-sign",
    ],
)
def test_the_cached_address_check_agrees_with_normalise(raw: str) -> None:
    try:
        expected = normalise(raw)
    except InvalidAddress:
        with pytest.raises(InvalidAddress):
            check_address(raw)
        return
    assert check_address(raw) == expected


def test_an_invalid_domain_seen_again_keeps_no_frames_of_the_rows_that_hit_it() -> None:
    # Re-raising one cached exception grew its traceback by every bad row's frames (their
    # cells and the whole import report), for as long as the worker lived.
    raised = []
    for _ in range(3):
        with pytest.raises(InvalidAddress) as caught:
            check_address("someone@twice..example.org")
        raised.append(caught.value)
    cached = import_rows._domains["twice..example.org"]
    assert cached.__traceback__ is None
    assert all(error is not cached for error in raised)
    assert {error.code for error in raised} == {cached.code}


def test_a_cursor_round_trips_and_a_mangled_one_is_ignored() -> None:
    assert decode_cursor(encode_cursor("王立", 42)) == ("王立", 42)
    assert decode_cursor("not-a-cursor!") is None
