"""An uploaded workbook waits for the worker as ``<job id>.upload``; openpyxl judged files
by their name and refused that one ("does not support .upload file format")."""

from __future__ import annotations

from pathlib import Path


def test_the_admin_import_of_an_xlsx_upload_reads_the_workbook(tmp_path: Path) -> None:
    from openpyxl import Workbook

    from service.subscribers.tabular import iter_rows, sniff

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["邮箱", "姓名"])
    sheet.append(["a@example.org", "甲"])
    stored = tmp_path / "17.upload"  # the name an admin upload waits under
    book.save(stored)
    info = sniff(stored)
    assert info.kind == "xlsx"
    assert list(iter_rows(stored, info)) == [(2, ["a@example.org", "甲"])]
