"""The campaign admin pages: create, confirm, start, progress fragment, pause, settings."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.accounts.models import AuditEntry
from service.campaigns.ledger import materialize
from service.campaigns.models import Campaign, Delivery
from service.campaigns.sending_config import get_sending_config
from service.config import Settings
from service.demo import load_demo
from tests.conftest import csrf_token
from tests.integration.security.helpers import demo_ids


def _demo(session: Session) -> int:
    result = load_demo(session)
    session.commit()
    return result.issue_id


def test_an_editor_creates_confirms_and_starts_a_campaign_and_sees_live_progress(
    logged_in: FlaskClient, session: Session
) -> None:
    issue_id = _demo(session)
    page = logged_in.get("/campaigns/new").get_data(as_text=True)
    assert "会员单位" in page and "6" in page  # the list with its active members
    token = csrf_token(logged_in, "/campaigns/new")
    resp = logged_in.post(
        "/campaigns/new",
        data={
            "csrf_token": token,
            "issue_id": str(issue_id),
            "lists": ["members"],
            "subject": "第 14 期",
            "tracking": "1",
            "content_mode": "excerpt",
        },
    )
    assert resp.status_code == 302
    campaign = session.scalars(select(Campaign)).one()
    confirm = logged_in.get(f"/campaigns/{campaign.id}/confirm").get_data(as_text=True)
    assert "第 14 期" in confirm and "news@example.org" in confirm and ">6<" in confirm
    resp = logged_in.post(
        f"/campaigns/{campaign.id}/start",
        data={"csrf_token": csrf_token(logged_in, f"/campaigns/{campaign.id}"), "confirmed": "1"},
    )
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "running"  # type: ignore[union-attr]
    fragment = logged_in.get(f"/campaigns/{campaign.id}/progress").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in fragment and 'data-status="running"' in fragment
    resp = logged_in.post(
        f"/campaigns/{campaign.id}/pause",
        data={"csrf_token": csrf_token(logged_in, f"/campaigns/{campaign.id}")},
    )
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "paused"  # type: ignore[union-attr]
    materialize(session, campaign.id)
    session.execute(
        update(Delivery)
        .where(Delivery.email == "wang.li@example.org")
        .values(status="unknown", last_error="the worker stopped while sending")
    )
    session.commit()
    page = logged_in.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "wang.li@example.org" in page and "the worker stopped while sending" in page
    assert f"/campaigns/{campaign.id}/resend-unknown" in page
    logged_in.post(
        f"/campaigns/{campaign.id}/resend-unknown",
        data={"csrf_token": csrf_token(logged_in, f"/campaigns/{campaign.id}")},
    )
    session.expire_all()
    assert (
        session.scalar(select(Delivery.status).where(Delivery.email == "wang.li@example.org"))
        == "pending"
    )
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.action.startswith("campaign."))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == [
        "campaign.create",
        "campaign.start",
        "campaign.pause",
        "campaign.resend_unknown",
    ]
    assert logged_in.get("/campaigns").status_code == 200


def test_the_only_list_is_ticked_also_when_the_form_is_opened_from_an_issue(
    logged_in: FlaskClient, session: Session
) -> None:
    issue_id = _demo(session)
    ticked = 'name="lists" value="members" checked'
    for path in ("/campaigns/new", f"/campaigns/new?issue_id={issue_id}&content_mode=auto"):
        assert ticked in logged_in.get(path).get_data(as_text=True), path
    # Sent back without a list (the editor unticked it): it stays unticked, with the reason.
    resp = logged_in.post(
        "/campaigns/new",
        data={"csrf_token": csrf_token(logged_in, "/campaigns/new"), "issue_id": str(issue_id)},
    )
    assert resp.status_code == 400 and ticked not in resp.get_data(as_text=True)


def test_a_test_send_says_in_the_staff_language_where_it_went_and_what_failed(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    campaign_id = demo_ids(session, settings)["campaign_id"]
    resp = logged_in.post(
        f"/campaigns/{campaign_id}/test",
        data={
            "csrf_token": csrf_token(logged_in, f"/campaigns/{campaign_id}"),
            "to": "tester@example.org, not-an-address",
        },
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True)
    assert "测试邮件已发送至 tester@example.org。" in html
    assert "发往 not-an-address 的测试邮件未发送：" in html
    assert ": sent" not in html


def test_bad_input_on_the_create_form_is_explained_not_a_500(
    logged_in: FlaskClient, session: Session
) -> None:
    _demo(session)
    resp = logged_in.post(
        "/campaigns/new",
        data={"csrf_token": csrf_token(logged_in, "/campaigns/new"), "subject": "x"},
    )
    assert resp.status_code == 400 and "list" in resp.get_data(as_text=True)


def test_the_sending_settings_page_saves_limits_and_relays(
    logged_in: FlaskClient, session: Session
) -> None:
    resp = logged_in.post(
        "/campaigns/settings",
        data={
            "csrf_token": csrf_token(logged_in, "/campaigns/settings"),
            "global_rate": "80",
            "domain_limits": "qq.com 30 60\n163.com 20",
            "relays": "smtp://relay2.example.org:587 3",
            "error_brake": "25",
        },
    )
    assert resp.status_code == 302
    config = get_sending_config(session)
    assert config.global_rate == 80 and config.error_brake == 25
    assert config.domain_limits["163.com"] == {"limit": 20, "window": 60}
    assert config.relays[0].url == "smtp://relay2.example.org:587"
    bad = logged_in.post(
        "/campaigns/settings",
        data={"csrf_token": csrf_token(logged_in, "/campaigns/settings"), "relays": "ftp://x 1"},
    )
    assert bad.status_code == 400


def test_a_viewer_reads_reports_but_not_campaigns(client: FlaskClient, session: Session) -> None:
    from service.accounts.users import create_user

    create_user(session, "viewer@example.org", "correct horse battery", "viewer")
    session.commit()
    client.post(
        "/login",
        data={
            "email": "viewer@example.org",
            "password": "correct horse battery",
            "csrf_token": csrf_token(client),
        },
    )
    # Issue 7: viewers get the dashboard and the reports; campaigns are for editors.
    assert client.get("/campaigns").status_code == 403
    assert client.get("/campaigns/new").status_code == 403
    assert client.get("/reports").status_code == 200
