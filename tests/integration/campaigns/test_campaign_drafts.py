"""Working on a campaign before it goes: edit a draft (subject, preheader, lists,
schedule), a test rendered as a chosen subscriber, the link to the report, and the page
of scheduled campaigns in the association's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.campaigns.drafts import campaign_list_ids, create_campaign
from service.campaigns.service import schedule
from service.config import Settings
from service.mail.capture import CaptureStore
from service.model import AuditEntry, Campaign, MailingList, Subscriber, utcnow
from service.subscribers.unsubscribe_links import campaign_unsubscribe_token
from tests.conftest import csrf_token
from tests.integration.security.helpers import demo_ids


def _local(at: datetime, settings: Settings) -> str:
    """``at`` as a datetime-local field holds it, in the configured zone."""
    return at.astimezone(settings.zone).strftime("%Y-%m-%dT%H:%M")


def _campaign(session: Session, campaign_id: int) -> Campaign:
    session.expire_all()
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    return campaign


def _second_draft(session: Session, settings: Settings, list_id: int, subject: str) -> int:
    """A second draft campaign on the demo list."""
    campaign = create_campaign(
        session, settings, lists=[list_id], body_html="<p>x</p>", subject=subject
    )
    session.commit()
    return campaign.id


def _edit(client: FlaskClient, campaign_id: int, **data: object) -> object:
    token = csrf_token(client, f"/campaigns/{campaign_id}/edit")
    return client.post(f"/campaigns/{campaign_id}/edit", data={"csrf_token": token, **data})


def test_an_editor_changes_a_draft_and_schedules_moves_and_unschedules_it(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    ids = demo_ids(session, settings)
    cid = ids["campaign_id"]
    session.add(MailingList(slug="board", name="理事会"))
    session.commit()
    board = session.scalar(select(MailingList.id).where(MailingList.slug == "board"))
    form = logged_in.get(f"/campaigns/{cid}/edit").get_data(as_text=True)
    assert 'name="lists" value="members" checked' in form
    assert 'name="lists" value="board" >' in form  # not on this campaign yet

    at = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    resp = _edit(
        logged_in,
        cid,
        subject="《大连数字贸易》第 15 期",
        preheader="本期导读：数据跨境",
        lists=["members", "board"],
        at=_local(at, settings),
    )
    assert resp.status_code == 302  # type: ignore[attr-defined]
    c = _campaign(session, cid)
    assert (c.subject, c.name, c.preheader, c.status) == (
        "《大连数字贸易》第 15 期",
        "《大连数字贸易》第 15 期",
        "本期导读：数据跨境",
        "scheduled",
    )
    assert c.scheduled_at == at
    assert campaign_list_ids(session, cid) == sorted([ids["list_id"], board])

    # Moved by an hour, back to one list: the schedule moves through SCHEDULE again.
    later = at + timedelta(hours=1)
    _edit(
        logged_in, cid, subject=c.subject, preheader="", lists=["board"], at=_local(later, settings)
    )
    c = _campaign(session, cid)
    assert (c.status, c.scheduled_at, c.preheader) == ("scheduled", later, "")
    assert campaign_list_ids(session, cid) == [board]
    # An empty time takes it back to draft.
    _edit(logged_in, cid, subject=c.subject, preheader="", lists=["board"], at="")
    c = _campaign(session, cid)
    assert (c.status, c.scheduled_at) == ("draft", None)
    edits = session.scalars(
        select(AuditEntry.detail)
        .where(AuditEntry.action == "campaign.edit")
        .order_by(AuditEntry.id)
    ).all()
    moves = [(d["at"] and datetime.fromisoformat(d["at"]), d["unscheduled"]) for d in edits]
    assert moves == [(at, False), (later, False), (None, True)]


def test_bad_input_keeps_the_form_and_changes_nothing(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    cid = demo_ids(session, settings)["campaign_id"]
    before = _campaign(session, cid).subject
    resp = _edit(logged_in, cid, subject="新标题", preheader="", lists=[], at="")
    assert resp.status_code == 400  # type: ignore[attr-defined]
    html = resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "请至少选择一个列表。" in html and 'value="新标题"' in html
    past = _local(utcnow() - timedelta(days=1), settings)
    resp = _edit(logged_in, cid, subject="新标题", preheader="", lists=["members"], at=past)
    assert resp.status_code == 400  # type: ignore[attr-defined]
    c = _campaign(session, cid)
    assert (c.subject, c.status) == (before, "draft")  # the subject was rolled back too


def test_a_started_campaign_shows_a_message_instead_of_the_form_and_is_not_changed(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    cid = demo_ids(session, settings)["campaign_id"]
    session.execute(
        update(Campaign).where(Campaign.id == cid).values(status="running", started_at=utcnow())
    )
    session.commit()
    before = _campaign(session, cid).subject
    page = logged_in.get(f"/campaigns/{cid}/edit").get_data(as_text=True)
    assert "data-not-editable" in page and 'name="subject"' not in page
    assert f"/reports/{cid}" in page
    resp = _edit(logged_in, cid, subject="改了", preheader="", lists=["members"], at="")
    assert resp.status_code == 409  # type: ignore[attr-defined]
    assert "data-not-editable" in resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert _campaign(session, cid).subject == before
    show = logged_in.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert f"/campaigns/{cid}/edit" not in show and f'href="/reports/{cid}"' in show


def test_a_draft_page_links_to_its_edit_form_not_to_an_empty_report(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    cid = demo_ids(session, settings)["campaign_id"]
    show = logged_in.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert f'href="/campaigns/{cid}/edit"' in show and f'href="/reports/{cid}"' not in show


def test_a_test_rendered_as_a_subscriber_carries_their_name_and_links_but_goes_to_the_tester(
    logged_in: FlaskClient, session: Session, settings: Settings, capture: CaptureStore
) -> None:
    cid = demo_ids(session, settings)["campaign_id"]
    wang = session.scalar(select(Subscriber).where(Subscriber.email == "wang.li@example.org"))
    assert wang is not None
    before = set(capture.ids())
    resp = logged_in.post(
        f"/campaigns/{cid}/test",
        data={
            "csrf_token": csrf_token(logged_in, f"/campaigns/{cid}"),
            "to": "tester@example.org",
            "as": "Wang.Li@example.org",
        },
        follow_redirects=True,
    )
    assert "测试邮件已发送至 tester@example.org。" in resp.get_data(as_text=True)
    new = [m for m in capture.ids() if m not in before]
    assert len(new) == 1
    assert capture.summary(new[0]).rcpt_tos == ["tester@example.org"]
    msg = capture.message(new[0])
    assert msg["X-Tidings-Test"] == "1" and str(msg["Subject"]).startswith("[测试] ")
    assert msg["To"].addresses[0].addr_spec == "tester@example.org"
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "尊敬的王立，您好！" in html
    token = campaign_unsubscribe_token(settings.secret_key, wang.id, cid)
    assert f"/unsubscribe/{token}" in msg["List-Unsubscribe"]
    detail = session.scalars(
        select(AuditEntry.detail).where(AuditEntry.action == "campaign.test")
    ).one()
    assert detail["shown_as"] == "Wang.Li@example.org"


def test_a_test_as_nobody_is_refused_in_the_staff_language_and_sends_nothing(
    logged_in: FlaskClient, session: Session, settings: Settings, capture: CaptureStore
) -> None:
    cid = demo_ids(session, settings)["campaign_id"]
    before = capture.count()
    resp = logged_in.post(
        f"/campaigns/{cid}/test",
        data={
            "csrf_token": csrf_token(logged_in, f"/campaigns/{cid}"),
            "to": "tester@example.org",
            "as": "nobody@example.org",
        },
        follow_redirects=True,
    )
    assert "没有订阅者 nobody@example.org" in resp.get_data(as_text=True)
    assert capture.count() == before


def test_the_scheduled_page_lists_the_waiting_campaigns_soonest_first_in_the_zone(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    ids = demo_ids(session, settings)
    later = _second_draft(session, settings, ids["list_id"], "第二封")
    soon = datetime(2030, 1, 2, 1, 30, tzinfo=settings.zone)  # 01:30 in Shanghai
    schedule(session, later, soon + timedelta(days=5))
    schedule(session, ids["campaign_id"], soon)
    session.commit()
    page = logged_in.get("/campaigns/scheduled").get_data(as_text=True)
    assert settings.timezone in page
    first = page.index("2030-01-02 01:30")  # the zone's wall clock, not UTC (17:30 the day before)
    assert first < page.index("2030-01-07 01:30")
    assert "2030-01-01 17:30" not in page
    assert "/campaigns/scheduled" in logged_in.get("/campaigns").get_data(as_text=True)
