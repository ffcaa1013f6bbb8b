"""A workbook bomb or a file with nothing to import, uploaded in the admin or imported on
the command line, is refused with the reason: a form error or a non-zero exit, never a
500 or "added 0" (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.cli import main
from service.model import ImportJob, MailingList
from service.subscribers.import_terms import ImportTarget
from service.subscribers.importer import import_file
from service.subscribers.tabular import FileFormatError, TableInfo
from tests.bombs import MIB, xlsx_bomb
from tests.integration.audience.conftest import upload


def test_an_xlsx_bomb_uploaded_in_the_admin_is_a_form_error_naming_the_limit(
    logged_in: FlaskClient, members: MailingList, session: Session
) -> None:
    logged_in.get("/lang/en")
    resp = upload(logged_in, members.id, "people.xlsx", xlsx_bomb(65 * MIB))
    assert resp.status_code == 400  # type: ignore[attr-defined]
    page = resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "people.xlsx" in page and "sheet1.xml unpacks to more than 64 MB" in page
    assert session.scalar(select(ImportJob.id)) is None


def test_a_header_only_file_uploaded_in_the_admin_is_a_form_error(
    logged_in: FlaskClient, members: MailingList
) -> None:
    resp = upload(logged_in, members.id, "people.csv", "邮箱,姓名\n".encode())
    assert resp.status_code == 400  # type: ignore[attr-defined]
    assert "文件只有标题行，没有数据行。" in resp.get_data(as_text=True)  # type: ignore[attr-defined]


def test_the_command_line_exits_non_zero_for_a_bomb_and_for_a_header_only_file(
    members: MailingList, tmp_path: Path
) -> None:
    bomb = tmp_path / "people.xlsx"
    bomb.write_bytes(xlsx_bomb(65 * MIB))
    result = CliRunner().invoke(main, ["subscriber", "import", str(bomb), "--list", "members"])
    assert result.exit_code != 0
    assert "people.xlsx" in result.output and "unpacks to more than 64 MB" in result.output
    header = tmp_path / "header.csv"
    header.write_text("email,name\n", "utf-8")
    result = CliRunner().invoke(
        main, ["subscriber", "import", str(header), "--list", "members", "--json"]
    )
    assert result.exit_code != 0 and "no data rows" in result.output


def test_an_import_that_read_no_row_is_an_error_even_when_the_shape_was_given(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email,name\n", "utf-8")
    shape = TableInfo("csv", "utf-8", ",", ["email", "name"])  # as a caller that sniffed before
    with pytest.raises(FileFormatError) as caught:
        import_file(session, path, ImportTarget(members.id, "add", path.name), info=shape)
    assert caught.value.code == "file.nothing_read"
