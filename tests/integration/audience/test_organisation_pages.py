"""The admin's organisation pages: the paged list with counts, one organisation's
contacts with their state on each list, and its membership level."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import AuditEntry, MailingList, Organisation, SuppressionReason
from service.subscribers import organisations
from service.subscribers.suppression import suppress
from tests.conftest import csrf_token
from tests.integration.audience.conftest import run_import


def _company(session: Session, name: str) -> Organisation:
    found = session.scalar(select(Organisation).where(Organisation.name == name))
    assert found is not None, name
    return found


def test_the_list_pages_by_name_and_shows_counts(
    logged_in: FlaskClient, session: Session, members: MailingList, tmp_path: Path
) -> None:
    assert "No organisations yet" in _english(logged_in, "/organisations")
    rows = "".join(f"p{i}@example.org,公司{i:02d}\n" for i in range(organisations.PAGE_SIZE))
    path = tmp_path / "x.csv"
    path.write_text(f"email,公司\n{rows}q@example.org,<b>公司00</b>\n", "utf-8")
    run_import(session, path, members)
    page = _english(logged_in, "/organisations")
    assert "&lt;b&gt;公司00&lt;/b&gt;" in page and "<b>公司00" not in page
    assert page.count("/organisations/") == organisations.PAGE_SIZE
    next_link = re.search(r'rel="next" href="([^"]+)"', page)
    assert next_link is not None
    second = logged_in.get(next_link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count("/organisations/") == 1 and "公司49" in second


def test_one_organisation_shows_each_contact_state_in_chinese_and_saves_a_level(
    logged_in: FlaskClient, session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "邮箱,姓名,单位\na@example.org,甲,大连港集团\nb@example.org,乙,大连港集团\n", "utf-8"
    )
    run_import(session, path, members)
    suppress(session, "b@example.org", SuppressionReason.HARD_BOUNCE, "test")
    session.commit()
    org = _company(session, "大连港集团")
    url = f"/organisations/{org.id}"
    logged_in.get("/lang/zh")
    page = logged_in.get(url).get_data(as_text=True)
    assert "联系人 2 位，其中 1 位现在可以投递" in page
    assert "会员单位（已订阅）" in page and "会员单位（退信）" in page  # the list's name
    token = csrf_token(logged_in, url)
    assert logged_in.post(url, data={"csrf_token": token, "level": "理事单位"}).status_code == 302
    assert logged_in.post(url, data={"csrf_token": token, "level": "老板"}).status_code == 302
    session.expire_all()
    assert org.level == "理事单位"
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "organisation.level"))
    assert entry is not None and entry.detail["after"] == "理事单位"
    assert "会员级别必须是以下之一" in logged_in.get(url).get_data(as_text=True)
    assert logged_in.get("/organisations/999999").status_code == 404


def _english(client: FlaskClient, path: str) -> str:
    client.get("/lang/en")
    resp = client.get(path)
    assert resp.status_code == 200, path
    return resp.get_data(as_text=True)
