"""Lists are private unless staff make them public; a public list is double opt-in unless
an admin overrides it with a reason kept in the audit log. From the outside: the public
pages, the admin pages, the API and `tidings list add`."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.users import create_user
from service.cli import main
from service.model import AuditEntry, MailingList, Membership, Subscriber
from tests.conftest import csrf_token
from tests.integration.api.conftest import Api, error_code, make_token

OVERRIDE = "list.single_opt_in"


def _overrides(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == OVERRIDE)))


def _list(session: Session, slug: str) -> MailingList:
    session.expire_all()
    row = session.scalar(select(MailingList).where(MailingList.slug == slug))
    assert row is not None
    return row


def _add_list(client: FlaskClient, **fields: str) -> int:
    """Submit the admin's "Add a list" form; the new list's id (from the redirect)."""
    resp = client.post(
        "/lists", data={"csrf_token": csrf_token(client, "/lists"), "description": "", **fields}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    match = re.search(r"/lists/(\d+)$", resp.headers["Location"])
    assert match, resp.headers["Location"]
    return int(match.group(1))


def _save(client: FlaskClient, list_id: int, **fields: str) -> str:
    """Submit a list's settings form; the page it leads back to (with its message)."""
    client.get("/lang/en")
    data = {"csrf_token": csrf_token(client, f"/lists/{list_id}"), "description": "", **fields}
    resp = client.post(f"/lists/{list_id}", data=data, follow_redirects=True)
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _log_in(app: Flask, session: Session, role: str) -> FlaskClient:
    email = f"{role}.lists@example.org"
    create_user(session, email, "correct horse battery", role)
    session.commit()
    client = app.test_client()
    form = {"email": email, "password": "correct horse battery"}
    resp = client.post("/login", data={**form, "csrf_token": csrf_token(client)})
    assert resp.status_code == 302
    return client


def test_a_new_list_is_private_its_sign_up_urls_answer_404_and_it_has_no_snippet(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    list_id = _add_list(logged_in, slug="board", name="理事会", double_opt_in="1")
    assert _list(session, "board").public is False
    stranger = app.test_client()
    assert "board" not in stranger.get("/subscribe").get_data(as_text=True)
    for resp in (
        stranger.get("/subscribe/board"),
        stranger.get("/subscribe?list=board"),
        stranger.post("/subscribe/board", data={"email": "x@example.org"}),
        stranger.post("/subscribe", data={"email": "x@example.org", "list": "board"}),
        stranger.post("/subscribe", json={"email": "x@example.org", "list": "board"}),
    ):
        assert resp.status_code == 404
    assert session.scalar(select(Subscriber)) is None
    page = logged_in.get(f"/lists/{list_id}?lang=en").get_data(as_text=True)
    assert "data-private-list" in page and "&lt;form" not in page
    assert 'href="/subscribe/board"' not in page

    # Made public, it is offered on /subscribe and its page shows the snippet.
    _save(logged_in, list_id, name="理事会", public="1", double_opt_in="1")
    assert "理事会" in stranger.get("/subscribe").get_data(as_text=True)
    assert stranger.get("/subscribe/board").status_code == 200
    page = logged_in.get(f"/lists/{list_id}").get_data(as_text=True)
    assert "&lt;form" in page and "/subscribe/board" in page
    lists_page = logged_in.get("/lists").get_data(as_text=True)
    assert 'data-public="yes"' in lists_page


def test_a_public_list_is_double_opt_in_unless_an_admin_gives_a_reason(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    list_id = _add_list(logged_in, slug="news", name="通讯", public="1", double_opt_in="1")
    page = _save(logged_in, list_id, name="通讯", public="1")
    assert "give the reason" in page
    assert _list(session, "news").double_opt_in is True

    editor = _log_in(app, session, "editor")
    page = _save(editor, list_id, name="通讯", public="1", opt_in_reason="members asked")
    assert "Only an admin" in page
    assert _list(session, "news").double_opt_in is True and _overrides(session) == []

    page = _save(
        logged_in, list_id, name="通讯", public="1", opt_in_reason="  signed paper forms  "
    )
    assert _list(session, "news").double_opt_in is False
    (entry,) = _overrides(session)
    assert entry.target_id == str(list_id)
    assert entry.detail["reason"] == "signed paper forms" and entry.user_id is not None
    assert "signed paper forms" in logged_in.get("/audit").get_data(as_text=True)

    # The override stays while the list is renamed (no new reason, no new entry)...
    _save(editor, list_id, name="协会通讯", public="1")
    assert _list(session, "news").name == "协会通讯" and len(_overrides(session)) == 1
    # ...and a private single opt-in list needs none at all.
    _save(logged_in, list_id, name="协会通讯")
    assert not _list(session, "news").public and len(_overrides(session)) == 1


def test_a_public_single_opt_in_list_cannot_be_added_without_a_reason(
    logged_in: FlaskClient, session: Session
) -> None:
    logged_in.get("/lang/en")
    resp = logged_in.post(
        "/lists",
        data={
            "csrf_token": csrf_token(logged_in, "/lists"),
            "slug": "walkin",
            "name": "Walk-in",
            "public": "1",
        },
        follow_redirects=True,
    )
    assert "give the reason" in resp.get_data(as_text=True)
    assert session.scalar(select(MailingList).where(MailingList.slug == "walkin")) is None


def test_the_api_shows_and_sets_public_and_guards_the_override(
    client: FlaskClient, session: Session
) -> None:
    api = Api(client, make_token(session, "admin"))
    made = api.post("/lists", json={"slug": "plain", "name": "Plain"})
    assert made.status_code == 201 and made.get_json()["public"] is False
    refused = api.post(
        "/lists", json={"slug": "open", "name": "Open", "public": True, "double_opt_in": False}
    )
    assert refused.status_code == 422 and error_code(refused) == "invalid_list"
    editor = Api(client, make_token(session, "editor"))
    by_editor = editor.post(
        "/lists",
        json={
            "slug": "open",
            "name": "Open",
            "public": True,
            "double_opt_in": False,
            "single_opt_in_reason": "event badge scans",
        },
    )
    assert by_editor.status_code == 403 and error_code(by_editor) == "forbidden_role"
    assert session.scalar(select(MailingList).where(MailingList.slug == "open")) is None
    by_admin = api.post(
        "/lists",
        json={
            "slug": "open",
            "name": "Open",
            "public": True,
            "double_opt_in": False,
            "single_opt_in_reason": "event badge scans",
        },
    )
    assert by_admin.status_code == 201
    assert (by_admin.get_json()["public"], by_admin.get_json()["double_opt_in"]) == (True, False)
    (entry,) = _overrides(session)
    assert entry.detail["reason"] == "event badge scans"

    plain_id = made.get_json()["id"]
    flip = editor.patch(f"/lists/{plain_id}", json={"public": True, "double_opt_in": False})
    assert flip.status_code == 403
    public = editor.patch(f"/lists/{plain_id}", json={"public": True})
    assert public.status_code == 200 and public.get_json()["public"] is True
    assert api.get(f"/lists/{plain_id}").get_json()["double_opt_in"] is True


def test_list_add_makes_a_private_list_unless_public_and_single_opt_in_needs_a_reason(
    session: Session,
) -> None:
    runner = CliRunner()
    private = runner.invoke(main, ["list", "add", "staff", "--name", "Staff", "--json"])
    assert private.exit_code == 0, private.output
    assert json.loads(private.output)["public"] is False
    public = runner.invoke(main, ["list", "add", "news", "--name", "News", "--public", "--json"])
    assert public.exit_code == 0, public.output
    assert json.loads(public.output)["public"] is True
    assert json.loads(public.output)["double_opt_in"] is True

    bare = runner.invoke(
        main, ["list", "add", "walkin", "--name", "W", "--public", "--single-opt-in"]
    )
    assert bare.exit_code == 2 and "--reason" in bare.output
    assert session.scalar(select(MailingList).where(MailingList.slug == "walkin")) is None
    given = runner.invoke(
        main,
        [
            "list",
            "add",
            "walkin",
            "--name",
            "W",
            "--public",
            "--single-opt-in",
            "--reason",
            "paper forms at the annual meeting",
        ],
    )
    assert given.exit_code == 0, given.output
    (entry,) = _overrides(session)
    assert entry.detail["reason"] == "paper forms at the annual meeting"
    assert entry.user_id is None  # the operator at the command line
    private_single = runner.invoke(main, ["list", "add", "vip", "--name", "V", "--single-opt-in"])
    assert private_single.exit_code == 0, private_single.output


def test_a_reader_on_a_private_list_sees_it_on_the_preferences_page_and_can_only_leave_it(
    app: Flask, session: Session
) -> None:
    from service import tokens

    members = MailingList(slug="members", name="会员单位", public=False)
    board = MailingList(slug="board", name="理事会", public=False)
    news = MailingList(slug="news", name="协会通讯", public=True)
    sub = Subscriber(email="m@example.org", email_ascii="m@example.org", attributes={})
    session.add_all([members, board, news, sub])
    session.flush()
    session.add(Membership(subscriber_id=sub.id, list_id=members.id, status="active"))
    session.commit()
    token = tokens.make_token(app.config["TIDINGS"].secret_key, tokens.PREFERENCES, sub.id)
    client = app.test_client()
    page = client.get(f"/preferences/{token}").get_data(as_text=True)
    assert "会员单位" in page and "协会通讯" in page and "理事会" not in page

    # Ticking a private list they are not on (by editing the form) adds nothing.
    form = {"csrf_token": csrf_token(client, f"/preferences/{token}"), "language": "zh-CN"}
    client.post(f"/preferences/{token}", data={**form, "lists": [str(board.id), str(news.id)]})
    session.expire_all()
    assert session.get(Membership, (sub.id, board.id)) is None
    assert session.get(Membership, (sub.id, news.id)) is not None
    left = session.get(Membership, (sub.id, members.id))
    assert left is not None and left.status == "unsubscribed"
