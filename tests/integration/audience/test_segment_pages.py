"""The admin's segment pages (list with counts, the form of condition rows, delete) and
the segment on the new-campaign and draft forms, with the count of who they reach."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from service.campaigns.drafts import create_campaign
from service.config import Settings
from service.model import Campaign, MailingList, Membership, Organisation, Segment, Subscriber
from service.subscribers.organisation_names import name_key
from service.subscribers.segments import create_segment
from tests.conftest import csrf_token

COUNCIL = [{"kind": "org_level_in", "levels": ["理事单位"]}]


def _people(session: Session, members: MailingList) -> None:
    """Two people at a 理事单位 and one at a 会员单位, all active on ``members``."""
    council = Organisation(name="数贸科技", name_key=name_key("数贸科技"), level="理事单位")
    other = Organisation(name="ABC软件", name_key=name_key("ABC软件"), level="会员单位")
    session.add_all([council, other])
    session.flush()
    for name, org in (("li", council), ("wang", council), ("zhao", other)):
        sub = Subscriber(
            email=f"{name}@example.org",
            email_ascii=f"{name}@example.org",
            organisation_id=org.id,
            attributes={},
        )
        session.add(sub)
        session.flush()
        session.add(Membership(subscriber_id=sub.id, list_id=members.id, status="active"))
    session.commit()


def _english(client: FlaskClient) -> FlaskClient:
    client.get("/lang/en")
    return client


def _post(client: FlaskClient, path: str, **data: object) -> tuple[int, str]:
    resp = client.post(path, data={"csrf_token": csrf_token(client, path), **data})
    return resp.status_code, resp.get_data(as_text=True)


def _new_segment(client: FlaskClient, name: str, *rows: dict[str, str]) -> tuple[int, str]:
    """Post the new-segment form: ``rows`` are the condition rows' fields, in order."""
    fields = {f"{key}_{i}": value for i, row in enumerate(rows) for key, value in row.items()}
    return _post(client, "/segments/new", name=name, rows=str(len(rows)), **fields)


def _delete(client: FlaskClient, sid: int, **kwargs: object) -> TestResponse:
    """Press the segment page's delete button."""
    token = csrf_token(client, f"/segments/{sid}")
    return client.post(f"/segments/{sid}/delete", data={"csrf_token": token}, **kwargs)


def test_a_segment_is_made_from_the_form_rows_and_listed_with_its_count(
    logged_in: FlaskClient, session: Session, members: MailingList
) -> None:
    _people(session, members)
    client = _english(logged_in)
    assert "No segments yet" in client.get("/segments").get_data(as_text=True)
    status, _page = _new_segment(
        client,
        "理事单位，近两期未打开",
        {"kind": "org_level_in", "levels": "理事单位"},
        {"kind": "opened_none", "last": "2"},
        {"kind": "", "text": "ignored: the row has no kind"},
    )
    assert status == 302
    row = session.scalar(select(Segment))
    assert row is not None and row.conditions == [
        {"kind": "org_level_in", "levels": ["理事单位"]},
        {"kind": "opened_none", "last": 2},
    ]
    page = client.get("/segments").get_data(as_text=True)
    listed = re.search(rf'data-segment="{row.id}".*?data-count>(\d+)<', page, re.S)
    assert listed and listed.group(1) == "2"
    assert "Organisation level is one of: 理事单位" in page
    form = client.get(f"/segments/{row.id}").get_data(as_text=True)
    assert 'value="opened_none" selected' in form and 'name="last_1" ' in form


def test_bad_conditions_answer_400_with_the_message_and_keep_what_was_typed(
    logged_in: FlaskClient, session: Session, members: MailingList
) -> None:
    client = _english(logged_in)
    status, page = _new_segment(
        client,
        "近期未打开",
        {"kind": "attribute_equals", "key": "城市"},
        {"kind": "opened_none", "last": "abc"},
    )
    assert status == 400
    assert "Condition 1: value is missing." in html.unescape(page)
    assert 'value="近期未打开"' in page and 'name="key_0" maxlength="200" value="城市"' in page
    assert 'name="last_1" maxlength="4" value="abc"' in page
    status, page = _new_segment(client, "x", {"kind": "no_such_kind"})
    assert status == 400 and "unknown kind “no_such_kind”" in html.unescape(page)
    assert session.scalar(select(Segment)) is None


def test_a_segment_in_use_by_a_draft_is_not_deleted_and_the_page_says_why(
    logged_in: FlaskClient, session: Session, settings: Settings, members: MailingList
) -> None:
    client = _english(logged_in)
    segment = create_segment(session, "理事单位", COUNCIL)
    campaign = create_campaign(
        session,
        settings,
        lists=["members"],
        body_html="<p>x</p>",
        subject="通知",
        segment_id=segment.id,
    )
    session.commit()
    sid = segment.id
    assert "data-in-use" in client.get(f"/segments/{sid}").get_data(as_text=True)
    said = _delete(client, sid, follow_redirects=True).get_data(as_text=True)
    assert f"used by campaigns that have not finished (#{campaign.id})" in said
    assert session.get(Segment, sid) is not None
    session.execute(update(Campaign).values(status="cancelled"))
    session.commit()
    assert _delete(client, sid).status_code == 302
    session.expire_all()
    assert session.get(Segment, sid) is None
    assert client.get(f"/segments/{sid}").status_code == 404


def test_the_campaign_forms_choose_a_segment_and_count_who_it_reaches(
    logged_in: FlaskClient, session: Session, members: MailingList
) -> None:
    _people(session, members)
    segment = create_segment(session, "理事单位", COUNCIL)
    session.commit()
    client = _english(logged_in)
    form = {
        "issue_id": "",
        "body_html": "<p>理事会</p>",
        "subject": "理事会通知",
        "lists": "members",
        "segment_id": str(segment.id),
    }
    status, page = _post(client, "/campaigns/new", **form, count="1")
    assert status == 200 and 'data-audience="2"' in page  # counted, nothing created
    assert f'value="{segment.id}" selected' in page and 'value="理事会通知"' in page
    assert session.scalar(select(Campaign)) is None
    status, _page = _post(client, "/campaigns/new", **form)
    assert status == 302
    campaign = session.scalar(select(Campaign))
    assert campaign is not None and campaign.segment_id == segment.id

    edit = client.get(f"/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert 'data-audience="2"' in edit and f'value="{segment.id}" selected' in edit
    show = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "2 recipients now" in show and f'data-segment="{segment.id}"' in show
    status, _page = _post(
        client,
        f"/campaigns/{campaign.id}/edit",
        subject="理事会通知",
        lists="members",
        segment_id="",
    )
    assert status == 302
    session.expire_all()
    assert session.get(Campaign, campaign.id).segment_id is None  # type: ignore[union-attr]
