"""Report figures checked against a campaign with known outcomes (DESIGN §7)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from service.events.tracking import rebuild_rollups
from service.model import Event, MailingList, utcnow
from service.reports.exports import recipient_outcomes
from service.reports.overview import list_growth, overview
from service.reports.queries import campaign_report, time_series
from service.subscribers.consent import record_consent
from tests.contract import REPORT_KEYS as DESIGN_KEYS
from tests.integration.events.events_factories import make_campaign, make_delivery

URLS = ("https://example.org/one", "https://example.org/two")


@pytest.fixture
def known(session):
    """11 recipients with outcomes chosen so every figure is distinct and checkable."""
    start = utcnow() - timedelta(hours=5)
    campaign = make_campaign(session, subject="Known", started=start, links=URLS)
    statuses = ["sent"] * 6 + ["bounced_hard", "bounced_soft", "complained", "failed", "unknown"]
    rows = [
        make_delivery(session, campaign, f"r{i}@example.net", status=s, sent_at=start)
        for i, s in enumerate(statuses)
    ]
    rows[9].sent_at = None
    rows[9].last_error = "550 5.1.1 rejected at send time"
    a, b, c, d = rows[:4]
    links = {
        link.position: link.id
        for link in session.query(__import__("service.model", fromlist=["Link"]).Link)
    }

    def event(delivery, kind, hours, machine=False, link=None):
        session.add(
            Event(
                delivery_id=delivery.id,
                campaign_id=campaign.id,
                subscriber_id=delivery.subscriber_id,
                type=kind,
                at=start + timedelta(hours=hours),
                machine=machine,
                link_id=links.get(link) if link is not None else None,
                detail={"machine_reason": "apple-mpp"} if machine and kind == "open" else {},
            )
        )

    event(a, "open", 1)
    event(a, "open", 2)
    event(b, "open", 1)  # noqa: E702
    event(c, "open", 0, machine=True)
    event(a, "click", 1, link=0)
    event(a, "click", 2, link=0)  # noqa: E702
    event(b, "click", 1, link=1)
    event(c, "click", 0, machine=True, link=0)
    event(rows[6], "bounce_hard", 0)
    event(rows[4], "sender_alert", 0)  # a 5.7.26 refusal: blocked, not delivered
    lst = MailingList(slug="news", name="News")
    session.add(lst)
    session.flush()
    record_consent(
        session,
        subscriber_id=b.subscriber_id,
        list_id=lst.id,
        action="unsubscribe",
        source="one-click",
        detail={"campaign_id": campaign.id},
    )
    record_consent(
        session, subscriber_id=b.subscriber_id, list_id=lst.id, action="confirm", source="form"
    )
    event(d, "unsubscribe", 3)
    session.flush()
    # Opens and clicks reach the report through rollups; the tracking flush keeps them
    # (tested in test_tracking.py), rows made here by hand are rolled up by the rebuild.
    rebuild_rollups(session, campaign.id)
    session.commit()
    return campaign


EXPECTED = {
    "recipients": 11,
    "sent": 9,
    "failed": 1,
    "unknown": 1,
    "bounced_hard": 1,
    "bounced_soft": 1,
    "complaints": 1,
    "opens_unique": 2,
    "opens_total": 3,
    "opens_machine": 1,
    "clicks_unique": 2,
    "clicks_total": 3,
    "unsubscribes": 2,
    "blocked": 1,
}


def test_the_report_has_the_design_keys_and_the_known_numbers(session, known):
    report = campaign_report(session, known.id)
    assert set(report) >= DESIGN_KEYS
    assert {k: report[k] for k in EXPECTED} == EXPECTED
    assert report["machine_opens_by_reason"] == {"apple-mpp": 1}
    assert report["links"] == [
        {
            "url": URLS[0],
            "clicks_unique": 1,
            "clicks_total": 2,
            "position": 0,
            "article_anchor": "a0",
        },
        {
            "url": URLS[1],
            "clicks_unique": 1,
            "clicks_total": 1,
            "position": 1,
            "article_anchor": "a1",
        },
    ]
    rates = report["rates"]
    assert rates["delivered"] == 6
    assert rates["open_rate"] == round(2 / 6, 4)
    assert rates["bounce_rate"] == round(2 / 9, 4)


def test_the_time_series_buckets_human_opens_and_clicks_by_hour(session, known):
    series = time_series(session, known.id)
    assert sum(series["opens"]) == 3 and sum(series["clicks"]) == 3
    assert series["opens"][1:3] == [2, 1]


def test_the_overview_has_one_row_per_campaign_with_the_same_figures(session, known):
    [row] = overview(session)
    assert {k: row[k] for k in EXPECTED} == EXPECTED


def test_list_growth_counts_confirmations_and_unsubscribes_per_week(session, known):
    [week] = list_growth(session)
    assert (week["list"], week["subscribes"], week["unsubscribes"]) == ("News", 1, 1)


def test_per_recipient_outcomes_cover_every_delivery(session, known):
    rows = list(recipient_outcomes(session, known.id))
    assert len(rows) == 11
    first = rows[0]
    assert first[0] == "r0@example.net" and first[3:6] == (2, 0, 2)


def test_the_cli_prints_the_report_as_json(session, known, test_env):
    from service.cli import main

    result = CliRunner().invoke(main, ["report", "campaign", str(known.id), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {k: data[k] for k in EXPECTED} == EXPECTED
    assert data["machine_opens_by_reason"] == {"apple-mpp": 1}
    text = CliRunner().invoke(main, ["report", "campaign", str(known.id)])
    assert text.exit_code == 0 and "recipients: 11" in text.output
    assert "machine opens, apple-mpp: 1" in text.output
    assert "open_rate: 33.33%" in text.output
    missing = CliRunner().invoke(main, ["report", "campaign", "999999", "--json"])
    assert missing.exit_code != 0 and "no campaign" in missing.output


def test_the_report_pages_show_the_figures_and_export_csv_and_xlsx(logged_in, known):
    index = logged_in.get("/reports")
    assert index.status_code == 200 and "Known" in index.get_data(as_text=True)
    page = logged_in.get(f"/reports/{known.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert URLS[0] in html and "550 5.1.1 rejected at send time" in html
    # Links are numbered for people, from 1, whatever their stored position (0 here).
    assert f'<td class="num">1</td><td><a href="{URLS[0]}"' in html
    assert f'<td class="num">2</td><td><a href="{URLS[1]}"' in html
    assert "<title>报告：Known" in html  # a full-width colon after the label
    # The machine opens by reason, beside the likely-human ones (3 opens of a and b).
    assert re.search(r'data-reason="human"><td>[^<]+</td><td class="num">3</td>', html)
    assert re.search(r'data-reason="apple-mpp"><td>Apple[^<]+</td><td class="num">1</td>', html)
    exported = logged_in.get(f"/reports/{known.id}/export.csv")
    assert exported.status_code == 200
    lines = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0][0] == "email" and len(lines) == 12
    xlsx = logged_in.get(f"/reports/{known.id}/export.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data), read_only=True).active
    assert sum(1 for _ in sheet.iter_rows()) == 12
    assert logged_in.get("/reports/999999").status_code == 404


def test_the_dashboard_alerts_partial_shows_the_providers_text(logged_in, session):
    from service.events.policy import Signal, apply_signal

    apply_signal(
        session,
        None,
        Signal(
            "policy",
            "mail",
            "alert-1",
            "5.7.26",
            "550-5.7.26 Unauthenticated email is not accepted",
        ),
    )
    session.commit()
    html = logged_in.get("/reports/alerts").get_data(as_text=True)
    assert "5.7.26 Unauthenticated email is not accepted" in html


def test_the_alerts_partial_is_empty_when_all_is_well(logged_in):
    resp = logged_in.get("/reports/alerts")
    assert resp.status_code == 200 and resp.get_data(as_text=True).strip() == ""


def test_an_unsubscribe_counts_for_the_newest_campaign_that_reached_the_reader(session):
    from datetime import timedelta

    from service.model import Delivery, utcnow
    from service.reports.queries import campaign_report
    from service.subscribers.unsubscribing import unsubscribe

    old = make_campaign(session, "Issue 13")
    new = make_campaign(session, "Issue 14")
    now = utcnow()
    delivery = make_delivery(session, new, "reader@example.org", sent_at=now - timedelta(hours=1))
    session.add(
        Delivery(
            campaign_id=old.id,
            subscriber_id=delivery.subscriber_id,
            email="reader@example.org",
            status="sent",
            sent_at=now - timedelta(days=90),
        )
    )
    session.commit()
    unsubscribe(session, delivery.subscriber_id, None, source="one-click", everything=True)
    session.commit()
    assert campaign_report(session, new.id)["unsubscribes"] == 1
    assert campaign_report(session, old.id)["unsubscribes"] == 0
