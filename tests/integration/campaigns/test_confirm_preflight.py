"""The confirm page shows the preflight: a failed error disables sending (and the start
endpoint refuses, naming the check), warnings need the "I have read the warnings" tick."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.campaigns.drafts import create_campaign
from service.cli.demo import DEMO_SUBSCRIBERS, load_demo
from service.config import Settings
from service.issues.publishing import archive_url
from service.model import Campaign, Issue, MailingList
from service.subscribers.lists import create_list
from service.subscribers.suppression import suppress
from service.web import campaign_sending
from tests.conftest import csrf_token


def _start(client: FlaskClient, campaign_id: int, **form: str) -> str:
    # The token of the confirm page itself, as a person posts it (its preflight asks the
    # app for pages of its own; their tokens must not end up in this form).
    token = csrf_token(client, f"/campaigns/{campaign_id}/confirm")
    resp = client.post(
        f"/campaigns/{campaign_id}/start",
        data={"csrf_token": token, "confirmed": "1", **form},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _status(session: Session, campaign_id: int) -> str:
    session.expire_all()
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    return campaign.status


def test_a_dead_link_to_the_service_disables_sending_and_the_start_endpoint_refuses(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    load_demo(session)
    body = f'<p><a href="{settings.base_url}/no-such-page">a page that is not there</a></p>'
    c = create_campaign(session, settings, body_html=body, subject="Dead", lists=["members"])
    session.commit()
    page = logged_in.get(f"/campaigns/{c.id}/confirm").get_data(as_text=True)
    assert 'data-preflight="blocked"' in page and "发送前检查" in page  # zh by default
    row = re.search(r'<tr data-check="own_links"[^>]*>.*?</tr>', page, re.S)
    assert row and 'data-ok="no"' in row.group(0) and 'data-level="error"' in row.group(0)
    assert "/no-such-page → 404" in row.group(0)
    assert re.search(r'<button class="primary" type="submit" disabled>', page)
    # Posted anyway (an old page, a script): refused, with the failed check named.
    after = _start(logged_in, c.id, acknowledged="1")
    assert "预检阻止了发送" in after and "own_links" in after
    assert _status(session, c.id) == "draft"


def test_warnings_need_the_tick_before_sending_starts(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    demo = load_demo(session)
    c = create_campaign(session, settings, issue_id=demo.issue_id, lists=["members"])
    session.commit()
    page = logged_in.get(f"/campaigns/{c.id}/confirm").get_data(as_text=True)
    # No DNS here: SPF, DKIM and DMARC are "not checked", a warning, never "ok".
    spf = re.search(r'<tr data-check="spf"[^>]*>', page)
    assert spf and 'data-ok="no"' in spf.group(0) and 'data-level="warning"' in spf.group(0)
    assert 'data-preflight="ok"' in page
    assert re.search(r'<input type="checkbox" name="acknowledged" value="1" required>', page)
    assert not re.search(r'type="submit" disabled', page)
    refused = _start(logged_in, c.id)
    assert "预检发出了警告" in refused and "spf" in refused
    assert _status(session, c.id) == "draft"
    _start(logged_in, c.id, acknowledged="1")
    assert _status(session, c.id) == "running"


def test_the_start_asks_links_to_other_sites_no_second_time(
    logged_in: FlaskClient, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def answers(url: str) -> int:
        asked.append(url)
        return 200

    monkeypatch.setattr(campaign_sending, "FETCH_EXTERNAL", answers)
    load_demo(session)
    body = '<p><a href="https://other.example.net/page">elsewhere</a></p>'
    c = create_campaign(session, settings, body_html=body, subject="Out", lists=["members"])
    session.commit()
    page = logged_in.get(f"/campaigns/{c.id}/confirm").get_data(as_text=True)
    row = re.search(r'<tr data-check="external_links"[^>]*>', page)
    assert row and 'data-ok="yes"' in row.group(0)
    assert asked == ["https://other.example.net/page"]
    # The POST re-checks what can block (own links, DNS, the signature…), not the web.
    _start(logged_in, c.id, acknowledged="1")  # _start loads the confirm page once more
    assert asked == ["https://other.example.net/page"] * 2
    assert _status(session, c.id) == "running"


def test_the_confirm_page_counts_recipients_without_the_suppressed_addresses(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    demo = load_demo(session)
    suppress(session, DEMO_SUBSCRIBERS[0][0], "manual", "test")
    c = create_campaign(session, settings, issue_id=demo.issue_id, lists=["members"])
    session.commit()
    page = logged_in.get(f"/campaigns/{c.id}/confirm").get_data(as_text=True)
    reached = len(DEMO_SUBSCRIBERS) - 1
    assert f"<dd><strong>{reached}</strong>" in page  # what the line says: suppressed left out
    assert f"发送给 {reached} 位收件人" in page


def test_the_confirm_page_says_sending_publishes_the_issue_or_that_it_stays_private(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    # Issue 12 item 4: the staff are told before they start that the archive page the
    # mail links to goes public, or, for an issue kept private, that none is linked.
    demo = load_demo(session)
    issue = session.get(Issue, demo.issue_id)
    assert issue is not None
    c = create_campaign(session, settings, issue_id=issue.id, lists=["members"])
    session.commit()

    def notice() -> str | None:
        page = logged_in.get(f"/campaigns/{c.id}/confirm").get_data(as_text=True)
        found = re.search(r'<p data-archive="(\w+)">([^<]*)</p>', page)
        return f"{found.group(1)}: {found.group(2)}" if found else None

    assert notice() is None  # the demo is published already: nothing new goes public
    issue.published_at = None
    session.commit()
    publishes = notice()
    assert publishes is not None and publishes.startswith("publish: ")
    assert archive_url(settings, issue.slug) in publishes
    issue.keep_private = True
    session.commit()
    assert notice() == "private: 这一期设为不公开：将发送全文，邮件中不含网页存档链接。"


def test_the_confirm_page_lists_names_and_counts_in_the_reader_s_language(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    demo = load_demo(session)
    create_list(session, "board", "理事会")
    for email, _name, _org in DEMO_SUBSCRIBERS[1:]:
        suppress(session, email, "manual", "test")
    c = create_campaign(session, settings, issue_id=demo.issue_id, lists=["members", "board"])
    session.commit()
    demo_list = session.get(MailingList, demo.list_id)
    assert demo_list is not None
    zh = logged_in.get(f"/campaigns/{c.id}/confirm").get_data(as_text=True)
    # 「、」 between the names and no space before 的 (the template joined them with ", ").
    assert f"{demo_list.name}、理事会的有效成员" in zh
    logged_in.get("/lang/en")
    en = logged_in.get(f"/campaigns/{c.id}/confirm").get_data(as_text=True)
    assert f"active members of {demo_list.name}, 理事会" in en
    assert re.search(r"Yes, send to 1 recipient\s*</button>", en)  # one, not "1 recipients"
