"""A Word bomb uploaded in the admin or imported on the command line is refused with the
limit in the reason: a form error or exit status 1, never a 500 or a minute-long request
(issue 13)."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.cli import main
from service.model import Issue
from tests.bombs import MIB, docx_bomb
from tests.conftest import csrf_token


def test_a_docx_bomb_uploaded_in_the_admin_is_a_form_error_naming_the_limit(
    logged_in: FlaskClient, session: Session
) -> None:
    logged_in.get("/lang/en")
    resp = logged_in.post(
        "/issues/upload",
        data={
            "csrf_token": csrf_token(logged_in, "/issues/upload"),
            "document": (io.BytesIO(docx_bomb(64 * MIB)), "journal.docx"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "data-upload-error" in page and "journal.docx" in page
    assert "word/document.xml unpacks to more than 8 MB" in page
    assert session.scalar(select(Issue.id)) is None


def test_the_reason_is_in_the_staff_language(logged_in: FlaskClient) -> None:
    logged_in.get("/lang/zh")
    resp = logged_in.post(
        "/issues/upload",
        data={
            "csrf_token": csrf_token(logged_in, "/issues/upload"),
            "document": (io.BytesIO(docx_bomb(64 * MIB)), "journal.docx"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400
    assert "解压后超过 8 MB" in resp.get_data(as_text=True)


def test_a_docx_bomb_on_the_command_line_exits_1_naming_the_file_and_the_limit(
    app: Flask, tmp_path: Path
) -> None:
    bomb = tmp_path / "journal.docx"
    bomb.write_bytes(docx_bomb(64 * MIB))
    result = CliRunner().invoke(main, ["issue", "import", str(bomb), "--json"])
    assert result.exit_code == 1
    assert "journal.docx" in result.output
    assert "word/document.xml unpacks to more than 8 MB" in result.output
