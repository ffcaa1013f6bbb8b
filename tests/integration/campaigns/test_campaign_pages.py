"""The campaign admin pages: create, confirm, start, progress fragment, pause, settings."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.campaigns.brake import brake_reason
from service.campaigns.engine import start
from service.campaigns.recipients import materialize
from service.campaigns.service import PAUSED_BY_STAFF, pause
from service.cli.demo import load_demo
from service.config import Settings
from service.errors import Message
from service.mail.sending_config import get_sending_config
from service.model import AuditEntry, Campaign, Delivery
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
        data={
            "csrf_token": csrf_token(logged_in, f"/campaigns/{campaign.id}"),
            "confirmed": "1",
            "acknowledged": "1",  # the preflight warns here (no DNS, no web)
        },
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
    assert 'data-error="relays"' in bad.get_data(as_text=True)
    not_a_number = logged_in.post(
        "/campaigns/settings",
        data={"csrf_token": csrf_token(logged_in, "/campaigns/settings"), "global_rate": "fast"},
    )
    html = not_a_number.get_data(as_text=True)
    assert not_a_number.status_code == 400
    assert '<span class="field-error" data-error="global_rate">请输入数字。</span>' in html


def test_the_sending_settings_page_saves_provider_presets_and_explains_bad_ones(
    logged_in: FlaskClient, session: Session
) -> None:
    page = logged_in.get("/campaigns/settings").get_data(as_text=True)
    assert "tencent 60 60 60 3600" in page  # the default presets, editable
    resp = logged_in.post(
        "/campaigns/settings",
        data={
            "csrf_token": csrf_token(logged_in, "/campaigns/settings"),
            "provider_limits": "tencent 30 60 120 1800\nnetease 20",
        },
    )
    assert resp.status_code == 302
    assert get_sending_config(session).provider_limits == {
        "tencent": {"limit": 30, "window": 60, "backoff": 120, "backoff_max": 1800},
        "netease": {"limit": 20, "window": 60, "backoff": 60, "backoff_max": 3600},
    }
    for text, error in [("hotmail 5", "不是服务商代码"), ("tencent", "每个服务商请写成")]:
        bad = logged_in.post(
            "/campaigns/settings",
            data={
                "csrf_token": csrf_token(logged_in, "/campaigns/settings"),
                "provider_limits": text,
            },
        )
        html = bad.get_data(as_text=True)
        assert bad.status_code == 400 and 'data-error="provider_limits"' in html
        assert error in html
    session.expire_all()
    assert get_sending_config(session).provider_limits["tencent"]["limit"] == 30


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


# ---- issue 7: the domain's messages in the staff member's language


def _in(client: FlaskClient, lang: str, path: str) -> str:
    client.get(f"/lang/{lang}")
    return client.get(path).get_data(as_text=True)


def _paused(session: Session, settings: Settings, reason: Message) -> int:
    campaign_id = demo_ids(session, settings)["campaign_id"]
    start(session, settings, campaign_id)
    pause(session, campaign_id, reason)
    session.commit()
    return campaign_id


def test_a_campaign_error_is_said_in_the_staff_language_and_names_the_issue(
    logged_in: FlaskClient, session: Session
) -> None:
    _demo(session)
    form = {"issue_id": "987654", "lists": ["members"], "subject": "第 15 期"}
    for lang, sentence in (("zh", "期刊 987654 不存在。"), ("en", "There is no issue 987654.")):
        logged_in.get(f"/lang/{lang}")
        token = csrf_token(logged_in, "/campaigns/new")
        resp = logged_in.post("/campaigns/new", data={"csrf_token": token, **form})
        assert resp.status_code == 400 and sentence in resp.get_data(as_text=True), lang


def test_a_refused_transition_is_flashed_in_chinese_with_the_state_names(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    campaign_id = demo_ids(session, settings)["campaign_id"]  # a draft: it cannot pause
    resp = logged_in.post(
        f"/campaigns/{campaign_id}/pause",
        data={"csrf_token": csrf_token(logged_in, f"/campaigns/{campaign_id}")},
        follow_redirects=True,
    )
    page = resp.get_data(as_text=True)
    assert f"群发 {campaign_id} 当前为“草稿”，不能改为“已暂停”。" in page
    assert "cannot become" not in page


def test_the_error_brake_reason_is_shown_in_chinese_and_in_english(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    campaign_id = _paused(session, settings, brake_reason(5, "421 4.7.0 try again later"))
    page = _in(logged_in, "zh", f"/campaigns/{campaign_id}")
    assert "连续 5 次发送失败，已自动暂停。最后一次错误：421 4.7.0 try again later" in page
    assert "状态：<strong>已暂停</strong>" in page  # a full-width colon after a label
    page = _in(logged_in, "en", f"/campaigns/{campaign_id}")
    assert (
        "Paused automatically after 5 transport failures in a row. "
        "Last error: 421 4.7.0 try again later" in page
    )


def test_a_staff_pause_is_noted_in_the_language_of_whoever_reads_it(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    campaign_id = demo_ids(session, settings)["campaign_id"]
    start(session, settings, campaign_id)
    logged_in.get("/lang/en")  # paused by someone reading English ...
    logged_in.post(
        f"/campaigns/{campaign_id}/pause",
        data={"csrf_token": csrf_token(logged_in, f"/campaigns/{campaign_id}")},
    )
    session.expire_all()
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None and campaign.status_code == "campaign.paused_by_staff"
    # ... read by someone reading Chinese.
    assert "已由工作人员暂停。" in _in(logged_in, "zh", f"/campaigns/{campaign_id}")


def test_a_reason_written_before_codes_existed_still_shows_as_it_was_written(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    campaign_id = _paused(session, settings, PAUSED_BY_STAFF)
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(status_reason="已由工作人员暂停（旧记录）", status_code="", status_params=None)
    )
    session.commit()
    for lang in ("zh", "en"):
        assert "已由工作人员暂停（旧记录）" in _in(logged_in, lang, f"/campaigns/{campaign_id}")


def test_the_progress_fragment_brings_the_status_card_and_buttons_once_the_status_moved_on(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    campaign_id = _paused(session, settings, PAUSED_BY_STAFF)
    page = logged_in.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert f'hx-get="/campaigns/{campaign_id}/progress?shown=paused"' in page
    assert 'id="campaign-summary"' in page and 'id="campaign-actions"' in page
    assert "hx-swap-oob" not in page
    same = logged_in.get(f"/campaigns/{campaign_id}/progress?shown=paused")
    assert "hx-swap-oob" not in same.get_data(as_text=True)
    # The page was drawn while sending; the campaign has paused (or finished) since: the
    # status card and the Pause/Cancel buttons around the fragment are stale.
    moved = logged_in.get(f"/campaigns/{campaign_id}/progress?shown=running").get_data(as_text=True)
    assert '<div id="campaign-summary" class="card" hx-swap-oob="true">' in moved
    assert '<div id="campaign-actions" class="card" hx-swap-oob="true">' in moved
    assert f"/campaigns/{campaign_id}/resume" in moved and "/pause" not in moved
