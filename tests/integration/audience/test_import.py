"""Subscriber import over the real database: encodings, bad rows, dedupe, suppression."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.mail.addresses import email_hash
from service.model import (
    Consent,
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from service.subscribers.importer import CHUNK_ROWS
from service.subscribers.suppression import suppress
from service.subscribers.tabular import FileFormatError
from tests.integration.audience.conftest import run_import


def subscriber(session: Session, email: str) -> Subscriber:
    found = session.scalar(select(Subscriber).where(Subscriber.email == email))
    assert found is not None, email
    return found


def test_a_gbk_file_with_chinese_names_imports_and_names_its_encoding(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "会员名单.csv"
    path.write_bytes(
        "电子邮件,姓名,单位,职务\r\nwang.li@example.org,王立,大连金慧融智科技股份有限公司,秘书长\r\n"
        "ZHANG@Example.org,张敏,信华信技术股份有限公司,\r\n".encode("gbk")
    )
    report = run_import(session, path, members)
    assert report.encoding == "GB18030 (GBK)"
    assert (report.added, report.errors) == (2, [])
    wang = subscriber(session, "wang.li@example.org")
    assert (wang.name, wang.organisation) == ("王立", "大连金慧融智科技股份有限公司")
    assert wang.attributes == {"职务": "秘书长"}
    assert subscriber(session, "zhang@example.org").attributes == {}


def test_a_file_with_20_percent_bad_rows_imports_the_rest_and_reports_each_bad_line(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    lines = ["email,name"]
    expected_errors = []
    for i in range(50):
        line_no = i + 2
        if i % 5 == 4:  # every fifth row is bad: 10 of 50
            lines.append(f"broken{i}.example.org,Bad {i}")
            expected_errors.append(line_no)
        else:
            lines.append(f"good{i}@example.org,Good {i}")
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run_import(session, path, members)
    assert (report.processed, report.added, report.skipped, report.updated) == (50, 40, 0, 0)
    assert [e["line"] for e in report.errors] == expected_errors
    assert all("has no @" in e["reason"] for e in report.errors)
    assert session.scalar(select(func.count(Subscriber.id))) == 40


def test_an_xlsx_file_imports(session: Session, members: MailingList, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Name", "Company", "Member no"])
    sheet.append(["a@example.org", "Ann", "ACME", 17])
    sheet.append([None, None, None, None])
    sheet.append(["not an address", "Bob", "", None])
    path = tmp_path / "members.xlsx"
    workbook.save(path)
    report = run_import(session, path, members)
    assert report.encoding == "XLSX"
    assert report.added == 1
    assert report.summary()["errors"] == [{"line": 4, "reason": report.errors[0]["reason"]}]
    assert report.errors[0]["code"] == "import.bad_address"
    assert subscriber(session, "a@example.org").attributes == {"Member no": "17"}


def test_utf8_bom_and_semicolons_are_handled(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffE-mail;Name;Organisation\r\nb@example.org;Bé;Org\r\n".encode())
    report = run_import(session, path, members)
    assert (report.encoding, report.delimiter, report.added) == ("UTF-8 with BOM", ";", 1)
    assert subscriber(session, "b@example.org").name == "Bé"


def test_binary_garbage_is_refused_before_anything_is_written(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    with pytest.raises(FileFormatError, match="PNG"):
        run_import(session, path, members)
    assert session.scalar(select(func.count(Subscriber.id))) == 0


def test_case_duplicates_in_the_file_and_in_the_database_are_one_person(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    session.add(Subscriber(email="known@example.org", email_ascii="known@example.org"))
    session.commit()
    path = tmp_path / "dupes.csv"
    path.write_text(
        "email,name\nA@Example.org,First\na@example.ORG,Second\nKNOWN@example.org,K\n",
        encoding="utf-8",
    )
    report = run_import(session, path, members)
    assert (report.added, report.duplicates) == (2, 1)
    assert report.errors == [
        {
            "line": 3,
            "reason": "a@example.org appears earlier in the file (compared ignoring case)",
            "code": "import.duplicate",
            "params": {"email": "a@example.org"},
        }
    ]
    assert subscriber(session, "a@example.org").name == "First"
    assert session.scalar(select(func.count(Subscriber.id))) == 2


def test_suppressed_and_unsubscribed_people_are_skipped_never_resubscribed(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    suppress(session, "bounced@example.org", "hard_bounce", source="test")
    left = Subscriber(email="left@example.org", email_ascii="left@example.org")
    gone = Subscriber(
        email="gone@example.org", email_ascii="gone@example.org", status="unsubscribed"
    )
    session.add_all([left, gone])
    session.flush()
    session.add(Membership(subscriber_id=left.id, list_id=members.id, status="unsubscribed"))
    session.commit()
    path = tmp_path / "again.csv"
    path.write_text(
        "email\nbounced@example.org\nleft@example.org\ngone@example.org\nnew@example.org\n",
        encoding="utf-8",
    )
    report = run_import(session, path, members, mode="upsert")
    assert (report.added, report.skipped, report.errors) == (1, 3, [])
    statuses = dict(
        session.execute(
            select(Subscriber.email, Membership.status).join(
                Membership, Membership.subscriber_id == Subscriber.id
            )
        ).all()
    )
    assert statuses == {"left@example.org": "unsubscribed", "new@example.org": "active"}
    assert (
        session.scalar(select(Subscriber.id).where(Subscriber.email == "bounced@example.org"))
        is None
    )


def test_add_and_update_mode_updates_profiles_and_add_only_leaves_them(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    first = tmp_path / "v1.csv"
    first.write_text("email,name,company,city\nc@example.org,Old,OldCo,Dalian\n", "utf-8")
    run_import(session, first, members)
    second = tmp_path / "v2.csv"
    second.write_text("email,name,company,city\nc@example.org,New,,Shenyang\n", "utf-8")
    report = run_import(session, second, members, mode="add")
    assert (report.added, report.updated, report.unchanged) == (0, 0, 1)
    assert subscriber(session, "c@example.org").name == "Old"
    report = run_import(session, second, members, mode="upsert")
    assert (report.added, report.updated) == (0, 1)
    session.expire_all()
    row = subscriber(session, "c@example.org")
    assert (row.name, row.organisation, row.attributes) == ("New", "OldCo", {"city": "Shenyang"})


def test_each_imported_membership_is_active_with_an_import_consent_row(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    assert members.double_opt_in
    path = tmp_path / "consent.csv"
    path.write_text("email\nd@example.org\n", "utf-8")
    run_import(session, path, members)
    membership = session.scalar(select(Membership))
    assert membership is not None and membership.status == MembershipStatus.ACTIVE
    consent = session.scalar(select(Consent))
    assert consent is not None
    assert (consent.action, consent.source, consent.list_id) == ("import", "import", members.id)
    assert consent.detail["file"] == "consent.csv" and "prior consent" in consent.detail["basis"]


def test_idn_non_ascii_local_parts_line_breaks_html_and_ragged_rows(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(
        "email,name\n"
        "info@例子.中国,IDN\n"
        "用户@example.org,Local\n"
        '"e@example.org","Evil\r\nBcc: x@y.org"\n'
        "f@example.org,<script>alert(1)</script>\n"
        "g@example.org,G,extra,cells\n"
        'h@example.org,"unclosed\n',
        "utf-8",
    )
    report = run_import(session, path, members)
    assert report.added == 5
    assert (report.smtputf8, report.cleaned) == (1, 1)
    idn = subscriber(session, "info@例子.中国")
    assert idn.email_ascii == "info@xn--fsqu00a.xn--fiqs8s"
    assert subscriber(session, "e@example.org").name == "Evil Bcc: x@y.org"
    assert subscriber(session, "f@example.org").name == "<script>alert(1)</script>"
    assert [e["line"] for e in report.errors] == [7]  # the quoted line break spans 4-5
    assert "7 fields" not in report.errors[0]["reason"] and "4 fields" in report.errors[0]["reason"]


def test_a_large_file_is_written_in_chunks(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    rows = CHUNK_ROWS * 2 + 10
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("email\n")
        for i in range(rows):
            fh.write(f"p{i}@example.org\n")
    seen = []
    from service.subscribers.import_terms import ImportTarget
    from service.subscribers.importer import import_file

    report = import_file(
        session,
        path,
        ImportTarget(members.id, "add", path.name),
        on_chunk=lambda r: seen.append(r.processed),
    )
    session.commit()
    assert report.added == rows
    assert seen == [CHUNK_ROWS, CHUNK_ROWS * 2, rows]
    assert session.scalar(select(func.count(Consent.id))) == rows


def test_duplicates_in_other_chunks_are_reported_whichever_chunk_is_still_being_written(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    # On PostgreSQL the previous chunk may still be in flight on another connection when
    # the next one is looked up; chunks further back are committed. Both must be caught.
    path = tmp_path / "dups.csv"
    lines = [f"p{i}@example.org" for i in range(CHUNK_ROWS * 3)]
    lines[CHUNK_ROWS + 5] = "P5@Example.org"  # the chunk just before: in flight
    lines[CHUNK_ROWS * 2 + 7] = "p7@example.org"  # two chunks back: committed
    lines[CHUNK_ROWS * 2 + 8] = "p1008@example.org"  # the chunk just before again
    path.write_text("email\n" + "\n".join(lines) + "\n", "utf-8")
    from service.subscribers.import_terms import ImportTarget
    from service.subscribers.importer import import_file

    report = import_file(session, path, ImportTarget(members.id, "add", path.name))
    session.commit()
    assert report.duplicates == 3 and report.added == CHUNK_ROWS * 3 - 3
    assert sorted(e["line"] for e in report.errors) == [
        CHUNK_ROWS + 7,
        CHUNK_ROWS * 2 + 9,
        CHUNK_ROWS * 2 + 10,
    ]
    assert session.scalar(select(func.count(Subscriber.id))) == CHUNK_ROWS * 3 - 3


def test_an_erased_person_is_not_imported_again(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    from service.subscribers.personal import erase

    path = tmp_path / "erase.csv"
    path.write_text("email,name\nerase.me@example.org,Eve\n", "utf-8")
    run_import(session, path, members)
    person = subscriber(session, "erase.me@example.org")
    erase(session, person)
    session.commit()
    row = session.scalar(select(Suppression))
    assert row is not None and row.email is None
    assert row.email_hash == email_hash("erase.me@example.org")
    report = run_import(session, path, members, mode="upsert")
    assert (report.added, report.skipped) == (0, 1)
    assert session.scalar(select(func.count(Subscriber.id))) == 1
    assert person.status == SubscriberStatus.ERASED


def test_duplicates_in_different_chunks_are_still_caught_without_a_growing_set(
    session: Session, members: MailingList, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.subscribers import importer

    monkeypatch.setattr(importer, "CHUNK_ROWS", 3)
    session.add(Subscriber(email="old@example.org", email_ascii="old@example.org"))
    session.commit()
    path = tmp_path / "spread.csv"
    path.write_text(
        "email,name\n"
        "a@example.org,A\nold@example.org,Old\nb@example.org,B\n"  # chunk 1
        "c@example.org,C\nA@EXAMPLE.ORG,again\nOLD@example.org,again\n"  # chunk 2
        "d@example.org,D\n",
        "utf-8",
    )
    report = run_import(session, path, members, mode="upsert")
    assert (report.added, report.duplicates) == (5, 2)
    assert [e["line"] for e in report.errors] == [6, 7]
    assert subscriber(session, "a@example.org").name == "A"
