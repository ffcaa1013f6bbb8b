"""`tidings list add` and `tidings subscriber import` (DESIGN §7) on the real database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.cli import main
from service.model import MailingList, Subscriber


def test_list_add_prints_json_and_refuses_a_duplicate_slug(session: Session) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["list", "add", "members", "--name", "会员单位", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["slug"] == "members" and payload["double_opt_in"] is True
    assert session.scalar(select(MailingList.name)) == "会员单位"
    again = runner.invoke(main, ["list", "add", "members", "--name", "x"])
    assert again.exit_code != 0 and "already exists" in again.output


def test_subscriber_import_maps_chinese_headers_and_prints_the_report(
    session: Session, tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["list", "add", "members", "--name", "M"]).exit_code == 0
    path = tmp_path / "名单.csv"
    path.write_bytes(
        "邮件地址,联系人,企业,手机\r\nwang@example.org,王立,某企业,138\r\nbad,坏,,\r\n".encode(
            "gbk"
        )
    )
    result = runner.invoke(
        main,
        ["subscriber", "import", str(path), "--list", "members", "--map", "手机=mobile", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["added"], report["updated"], report["skipped"]) == (1, 0, 0)
    assert report["errors"] == [{"line": 3, "reason": report["errors"][0]["reason"]}]
    person = session.scalar(select(Subscriber))
    assert person is not None
    assert (person.name, person.organisation, person.attributes) == (
        "王立",
        "某企业",
        {"mobile": "138"},
    )
    text = runner.invoke(main, ["subscriber", "import", str(path), "--list", "members"])
    assert "GB18030" in text.output and "line 3:" in text.output


def test_subscriber_import_explains_an_unknown_list_or_an_unreadable_file(
    session: Session, tmp_path: Path
) -> None:
    runner = CliRunner()
    path = tmp_path / "x.csv"
    path.write_text("email\na@example.org\n", "utf-8")
    result = runner.invoke(main, ["subscriber", "import", str(path), "--list", "nope"])
    assert result.exit_code != 0 and "there is no list 'nope'" in result.output
    runner.invoke(main, ["list", "add", "m", "--name", "M"])
    path.write_bytes(b"\x00\x00binary\x00")
    result = runner.invoke(main, ["subscriber", "import", str(path), "--list", "m"])
    assert result.exit_code != 0 and "binary" in result.output
