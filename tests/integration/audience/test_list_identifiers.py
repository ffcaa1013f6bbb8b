"""A list's identifier (its slug): made from the name, checked by the server in the staff
member's language, changeable; and "Import subscribers" from a list's page."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import AuditEntry, ImportJob, MailingList
from service.subscribers.lists import create_list
from tests.conftest import csrf_token
from tests.integration.audience.conftest import upload

BAD_SLUG_ZH = "标识只能包含 a-z、0-9、“-”和“_”（最多 64 个字符，以字母或数字开头）。"


def _add(client: FlaskClient, session: Session, name: str, slug: str = "") -> str:
    """Add a list from the lists page; return the slug it got."""
    token = csrf_token(client, "/lists")
    resp = client.post("/lists", data={"csrf_token": token, "name": name, "slug": slug})
    assert resp.status_code == 302
    session.expire_all()
    row = session.scalar(select(MailingList).where(MailingList.name == name))
    assert row is not None
    assert resp.headers["Location"].endswith(f"/lists/{row.id}")
    return row.slug


def test_a_list_without_an_identifier_gets_one_made_from_its_name(
    logged_in: FlaskClient, session: Session
) -> None:
    first = _add(logged_in, session, "会员单位")
    assert re.fullmatch(r"list-\d+", first), first
    assert _add(logged_in, session, "理事单位") not in (first, "")
    assert _add(logged_in, session, "Events 2026") == "events-2026"
    assert _add(logged_in, session, "EVENTS · 2026") == "events-2026-2"
    page = logged_in.get("/lists").get_data(as_text=True)
    assert f"<code>{first}</code>" in page


def test_the_form_leaves_checking_to_the_server_which_answers_in_the_staff_language(
    logged_in: FlaskClient, session: Session
) -> None:
    html = logged_in.get("/lists").get_data(as_text=True)
    slug_input = re.search(r'<input[^>]*name="slug"[^>]*>', html)
    assert slug_input and "pattern=" not in slug_input.group(0)
    assert "required" not in slug_input.group(0)
    token = csrf_token(logged_in, "/lists")
    logged_in.post("/lists", data={"csrf_token": token, "name": "会员单位", "slug": "会员"})
    assert BAD_SLUG_ZH in logged_in.get("/lists").get_data(as_text=True)
    assert session.scalar(select(MailingList)) is None
    logged_in.get("/lang/en")
    logged_in.post("/lists", data={"csrf_token": token, "name": "x", "slug": "Bad Slug!"})
    assert "The slug may contain only a-z" in logged_in.get("/lists").get_data(as_text=True)


def test_staff_change_the_identifier_and_the_sign_up_link_follows_it(
    logged_in: FlaskClient, session: Session
) -> None:
    row = create_list(session, "", "会员单位", public=True)
    create_list(session, "board", "理事会")
    session.commit()
    old = row.slug
    token = csrf_token(logged_in, f"/lists/{row.id}")
    form = {"csrf_token": token, "name": row.name, "public": "1", "double_opt_in": "1"}
    logged_in.post(f"/lists/{row.id}", data={**form, "slug": "members"})
    session.expire_all()
    assert row.slug == "members"
    assert logged_in.get("/subscribe/members").status_code == 200
    assert logged_in.get(f"/subscribe/{old}").status_code == 404
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "list.slug"))
    assert entry is not None and (entry.detail["old"], entry.detail["new"]) == (old, "members")
    taken = logged_in.post(
        f"/lists/{row.id}", data={**form, "slug": "board"}, follow_redirects=True
    )
    assert "标识为“board”的列表已经存在。" in taken.get_data(as_text=True)
    session.expire_all()
    assert row.slug == "members"


def test_import_from_a_lists_page_imports_into_it_and_keeps_the_choice_after_an_error(
    logged_in: FlaskClient, session: Session
) -> None:
    create_list(session, "first", "第一个列表")
    second = create_list(session, "", "会员单位")
    session.commit()
    page = logged_in.get(f"/lists/{second.id}").get_data(as_text=True)
    (href,) = re.findall(r'href="([^"]*/subscribers/import[^"]*)"', page)
    assert href.endswith(f"?list_id={second.id}")
    form = logged_in.get(href).get_data(as_text=True)
    assert re.search(rf'<option value="{second.id}" selected>', form)
    token = csrf_token(logged_in, href)
    refused = upload(logged_in, second.id, "members.pdf", b"%PDF-1.4", "upsert", token)
    assert refused.status_code == 400
    again = refused.get_data(as_text=True)
    assert re.search(rf'<option value="{second.id}" selected>', again)
    assert '<option value="upsert" selected>' in again
    accepted = upload(
        logged_in, second.id, "members.csv", b"email\nli.na@example.org\n", token=token
    )
    assert accepted.status_code == 302
    job = session.scalar(select(ImportJob))
    assert job is not None and job.list_id == second.id
