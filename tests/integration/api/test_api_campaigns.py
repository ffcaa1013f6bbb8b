"""The campaign lifecycle through the API, sending with the real worker to the real SMTP
capture: create, test send, start, progress to 100 %, report, deliveries, events; and
every state change (schedule, pause, resume, cancel) with its refusals."""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.config import Settings
from service.mail.capture import CaptureStore
from service.model import Event, utcnow
from tests.contract import REPORT_KEYS as REPORT_KEYS
from tests.integration.api.conftest import Api, error_code, import_demo_issue, make_list

RECIPIENTS = ("a@example.org", "b@example.org", "c@example.org")
POLL_SECONDS = 0.3
POLL_LIMIT_SECONDS = 90


def _audience(api: Api) -> dict[str, Any]:
    lst = make_list(api)
    for email in RECIPIENTS:
        resp = api.post("/subscribers", json={"email": email, "list_ids": [lst["id"]]})
        assert resp.status_code == 201
    return lst


def _wait_until_sent(api: Api, campaign_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while time.monotonic() < deadline:
        status = api.get(f"/campaigns/{campaign_id}/status").get_json()
        if status["total"] == len(RECIPIENTS) and status["percent"] == 100.0:
            return dict(status)
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"not sent in time: {status}")


def test_a_campaign_is_tested_sent_and_reported_through_the_api(
    api: Api,
    session: Session,
    settings: Settings,
    capture: CaptureStore,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    lst = _audience(api)
    issue = import_demo_issue(api)
    resp = api.post("/campaigns", json={"issue_id": issue["id"], "lists": [lst["slug"]]})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    campaign = resp.get_json()
    cid = campaign["id"]
    assert campaign["status"] == "draft" and campaign["list_ids"] == [lst["id"]]

    before = set(capture.ids())
    test = api.post(f"/campaigns/{cid}/test", json={"to": ["editor@example.org"]})
    assert test.status_code == 200, test.get_data(as_text=True)
    assert test.get_json()["results"] == ["editor@example.org: sent"]
    new = [m for m in capture.ids() if m not in before]
    assert len(new) == 1 and capture.message(new[0])["X-Tidings-Test"] == "1"

    started = api.post(f"/campaigns/{cid}/start")
    assert started.status_code == 200, started.get_data(as_text=True)
    # Three rows: the session's worker may have sent them and finished it already.
    assert started.get_json()["status"] in ("running", "finished")
    status = _wait_until_sent(api, cid)
    assert status["counts"]["sent"] == len(RECIPIENTS)

    # The worker of the last batch ends the campaign itself, with no beat job.
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while api.get(f"/campaigns/{cid}").get_json()["status"] != "finished":
        assert time.monotonic() < deadline, "the campaign did not finish by itself"
        time.sleep(POLL_SECONDS)
    report = api.get(f"/campaigns/{cid}/report").get_json()
    assert set(report) >= REPORT_KEYS
    assert report["sent"] == report["recipients"] == len(RECIPIENTS)
    sent = api.get(f"/campaigns/{cid}/deliveries?status=sent").get_json()["items"]
    assert sorted(d["email"] for d in sent) == list(RECIPIENTS)
    assert api.get(f"/campaigns/{cid}/deliveries?status=failed").get_json()["items"] == []
    assert api.post(f"/campaigns/{cid}/start").status_code == 409


def test_state_changes_follow_the_state_machine_and_refuse_the_rest(
    api: Api, session: Session, celery_worker: subprocess.Popen[bytes]
) -> None:
    lst = make_list(api)
    body = {"lists": [lst["id"]], "body_html": "<p>Hello</p>", "subject": "Plain"}
    cid = api.post("/campaigns", json=body).get_json()["id"]
    future = (utcnow() + timedelta(days=2)).isoformat()
    resp = api.post(f"/campaigns/{cid}/schedule", json={"at": future})
    assert resp.status_code == 200 and resp.get_json()["status"] == "scheduled"
    assert api.get("/campaigns?status=scheduled").get_json()["items"][0]["id"] == cid
    resp = api.post(f"/campaigns/{cid}/schedule", json={"at": "2001-01-01T09:00"})
    assert resp.status_code == 422 and error_code(resp) == "invalid_time"
    resp = api.post(f"/campaigns/{cid}/schedule", json={"at": "next tuesday"})
    assert resp.status_code == 422
    assert api.post(f"/campaigns/{cid}/schedule", json={"at": None}).get_json()["status"] == (
        "draft"
    )
    resp = api.post(f"/campaigns/{cid}/pause")
    assert resp.status_code == 409 and error_code(resp) == "invalid_transition"
    assert api.post(f"/campaigns/{cid}/start").get_json()["status"] == "running"
    assert api.post(f"/campaigns/{cid}/pause").get_json()["status"] == "paused"
    assert api.post(f"/campaigns/{cid}/resume").get_json()["status"] == "running"
    assert api.post(f"/campaigns/{cid}/cancel").get_json()["status"] == "cancelled"
    for action in ("start", "pause", "resume", "cancel"):
        assert api.post(f"/campaigns/{cid}/{action}").status_code == 409, action
    assert api.post("/campaigns/424242/start").status_code == 404


def test_bad_campaigns_are_refused_with_the_reason(api: Api) -> None:
    lst = make_list(api)
    cases = [
        ({"lists": [lst["slug"]]}, "invalid_campaign"),  # neither issue nor body
        ({"lists": ["nosuchlist"], "body_html": "<p>x</p>", "subject": "S"}, "invalid_campaign"),
        ({"lists": [lst["slug"]], "issue_id": 999999}, "invalid_campaign"),
        ({"lists": [], "body_html": "<p>x</p>"}, "validation_error"),
        ({"lists": [lst["slug"]], "body_html": "<p>x</p>", "subject": "a\nb"}, "invalid_campaign"),
        (
            {"lists": [lst["slug"]], "body_html": "<p>x</p>", "content_mode": "big"},
            "validation_error",
        ),
    ]
    for body, code in cases:
        resp = api.post("/campaigns", json=body)
        assert resp.status_code == 422, (body, resp.get_data(as_text=True))
        assert error_code(resp) == code, body
    resp = api.post("/campaigns/1/test", json={"to": []})
    assert resp.status_code in (404, 422)


def test_a_domain_error_keeps_its_api_code_and_english_message_whatever_the_admin_language(
    api: Api,
) -> None:
    lst = make_list(api)
    api.client.get("/lang/zh")  # the same browser also uses the Chinese admin
    resp = api.post("/campaigns", json={"lists": [lst["slug"]], "issue_id": 987654})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "invalid_campaign"
    assert resp.get_json()["error"]["message"] == "there is no issue 987654"
    cid = api.post(
        "/campaigns", json={"lists": [lst["id"]], "body_html": "<p>x</p>", "subject": "S"}
    ).get_json()["id"]
    resp = api.post(f"/campaigns/{cid}/pause")
    assert resp.status_code == 409 and error_code(resp) == "invalid_transition"
    assert resp.get_json()["error"]["message"] == f"campaign {cid} is draft, cannot become paused"
    assert api.post(f"/campaigns/{cid}/start").status_code == 200
    paused = api.post(f"/campaigns/{cid}/pause").get_json()
    assert paused["status_reason"] == "paused through the API"  # English, as before


def test_events_are_listed_per_campaign_and_filtered_by_type(api: Api, session: Session) -> None:
    lst = make_list(api)
    body = {"lists": [lst["id"]], "body_html": "<p>Hello</p>", "subject": "Events"}
    cid = api.post("/campaigns", json=body).get_json()["id"]
    for kind in ("open", "click", "open", "bounce_hard"):
        session.add(Event(campaign_id=cid, type=kind, detail={}))
    session.commit()
    everything = api.get(f"/campaigns/{cid}/events?limit=3").get_json()
    assert len(everything["items"]) == 3 and everything["next_cursor"]
    rest = api.get(f"/campaigns/{cid}/events?cursor={everything['next_cursor']}").get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    opens = api.get(f"/campaigns/{cid}/events?type=open").get_json()["items"]
    assert [e["type"] for e in opens] == ["open", "open"]
    assert api.get("/campaigns/424242/events").status_code == 404
    report = api.get(f"/campaigns/{cid}/report").get_json()
    assert report["recipients"] == 0


def test_a_test_through_the_api_is_rendered_as_the_subscriber_asked_for(
    api: Api, session: Session, settings: Settings, capture: CaptureStore
) -> None:
    from sqlalchemy import select

    from service.model import Subscriber
    from service.subscribers.unsubscribe_links import campaign_unsubscribe_token

    lst = _audience(api)
    resp = api.post(
        "/campaigns", json={"issue_id": import_demo_issue(api)["id"], "lists": [lst["slug"]]}
    )
    cid = resp.get_json()["id"]
    before = set(capture.ids())
    test = api.post(
        f"/campaigns/{cid}/test",
        json={"to": ["editor@example.org"], "as_subscriber": "b@example.org"},
    )
    assert test.get_json()["results"] == ["editor@example.org: sent"]
    (new,) = [m for m in capture.ids() if m not in before]
    assert capture.summary(new).rcpt_tos == ["editor@example.org"]
    b = session.scalar(select(Subscriber.id).where(Subscriber.email == "b@example.org"))
    token = campaign_unsubscribe_token(settings.secret_key, int(b or 0), cid)
    assert f"/unsubscribe/{token}" in capture.message(new)["List-Unsubscribe"]
    refused = api.post(
        f"/campaigns/{cid}/test",
        json={"to": ["editor@example.org"], "as_subscriber": "x@example.org"},
    )
    assert refused.status_code == 422 and error_code(refused) == "cannot_render"


def test_a_start_the_preflight_blocks_is_refused_unless_forced(
    api: Api, settings: Settings, celery_worker: subprocess.Popen[bytes]
) -> None:
    lst = _audience(api)
    dead = f'<p><a href="{settings.base_url}/no-such-page">a page that is not there</a></p>'
    body = {"lists": [lst["id"]], "body_html": dead, "subject": "Dead link"}
    cid = api.post("/campaigns", json=body).get_json()["id"]
    refused = api.post(f"/campaigns/{cid}/start")
    assert refused.status_code == 422 and error_code(refused) == "preflight_failed"
    error = refused.get_json()["error"]
    assert error["details"] == {"checks": ["own_links"]} and "no-such-page" in error["message"]
    assert api.get(f"/campaigns/{cid}").get_json()["status"] == "draft"
    forced = api.post(f"/campaigns/{cid}/start?force=1")
    assert forced.status_code == 200, forced.get_data(as_text=True)
    assert forced.get_json()["status"] == "running"
    # Wait for the worker to finish the forced send: a worker still writing rows when the
    # test's tables are emptied deadlocks on PostgreSQL.
    assert _wait_until_sent(api, cid)["counts"]["sent"] == len(RECIPIENTS)
