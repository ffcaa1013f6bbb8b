"""Which member organisations a campaign reached (issue 17, item 2), checked against a
campaign with one organisation in each situation."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from service.cli import main
from service.mail.addresses import email_hash
from service.model import (
    Delivery,
    Event,
    MailingList,
    Membership,
    Organisation,
    Subscriber,
    Suppression,
    campaign_lists,
)
from service.reports.coverage import across, coverage
from service.reports.queries import campaign_report
from service.subscribers.organisation_names import name_key
from tests.integration.events.events_factories import make_campaign, make_subscriber

ROOT = Path(__file__).resolve().parents[3]

# Each organisation's contacts: (address, membership of the journal list ("other": active
# on another list), delivery status or None, a bounce text or "suppressed").
ORGANISATIONS = {
    "A 甲科技": [
        ("a1@a.example", "active", "sent", None),
        ("a2@a.example", "active", "bounced_hard", "550 5.1.1 no such user"),
    ],
    "B 乙贸易": [
        ("b1@b.example", "active", "bounced_hard", "550 5.1.1 user unknown"),
        ("b2@b.example", "active", "bounced_soft", "452 4.2.2 mailbox full"),
    ],
    # Left "sent" by the relay, then a hard bounce arrived: not reached.
    "C 丙物流": [("c1@c.example", "active", "sent", "550 5.1.1 gone")],
    "D 丁咨询": [
        ("d1@d.example", "unsubscribed", None, None),
        ("d2@d.example", "unsubscribed", None, None),
    ],
    "E 戊软件": [("e1@e.example", "active", None, "suppressed")],
    "F 己电子": [("f1@f.example", "other", None, None)],  # on another list only
    "G 庚数据": [
        ("g1@g.example", "active", "bounced_hard", "550 5.1.1 mailbox disabled"),
        ("g2@g.example", "unsubscribed", None, None),
    ],
}
EXPECTED = {
    "total": 7,
    "reached": 1,
    "unreached": [
        {"name": "B 乙贸易", "reason": "all_bounced"},
        {"name": "C 丙物流", "reason": "all_bounced"},
        {"name": "D 丁咨询", "reason": "all_unsubscribed"},
        {"name": "E 戊软件", "reason": "all_suppressed"},
        {"name": "F 己电子", "reason": "not_on_lists"},
        {"name": "G 庚数据", "reason": "mixed"},
    ],
}


def _contact(session, campaign, lists, org, email, membership, status, extra):
    person = make_subscriber(session, email)
    person.organisation_id = org.id
    if membership == "other":
        session.add(Membership(subscriber_id=person.id, list_id=lists[1].id, status="active"))
    elif membership:
        session.add(Membership(subscriber_id=person.id, list_id=lists[0].id, status=membership))
    if extra == "suppressed":
        session.add(
            Suppression(email_hash=email_hash(email), email=email, reason="manual", source="admin")
        )
    if status is None:
        return
    delivery = Delivery(
        campaign_id=campaign.id, subscriber_id=person.id, email=email, status=status
    )
    session.add(delivery)
    session.flush()
    if extra and extra.startswith(("550", "452")):
        kind = "bounce_soft" if status == "bounced_soft" else "bounce_hard"
        session.add(
            Event(
                delivery_id=delivery.id,
                campaign_id=campaign.id,
                subscriber_id=person.id,
                type=kind,
                detail={"diagnostic": extra},
            )
        )


@pytest.fixture
def journal_campaign(session):
    """The quarterly journal sent to one list, the organisations as in ORGANISATIONS,
    and one organisation with no contact at all (not counted)."""
    journal = MailingList(slug="journal", name="Journal")
    other = MailingList(slug="other", name="Other")
    session.add_all([journal, other, Organisation(name="H 辛空壳", name_key=name_key("H 辛空壳"))])
    campaign = make_campaign(session, subject="2026 Q2")
    session.flush()
    session.execute(campaign_lists.insert().values(campaign_id=campaign.id, list_id=journal.id))
    for name, contacts in ORGANISATIONS.items():
        org = Organisation(name=name, name_key=name_key(name))
        session.add(org)
        session.flush()
        for email, membership, status, extra in contacts:
            _contact(session, campaign, (journal, other), org, email, membership, status, extra)
    session.commit()
    return campaign


def test_the_report_json_names_each_unreached_organisation_with_its_reason(
    session, journal_campaign
):
    report = campaign_report(session, journal_campaign.id)
    assert report["organisations"] == EXPECTED
    assert report["recipients"] == 6  # the other keys are still there, unchanged


def test_the_contacts_to_fix_carry_their_state_and_bounce_text(session, journal_campaign):
    fix = {
        (c.email, c.state, c.detail)
        for c in coverage(session, journal_campaign.id).contacts_to_fix()
    }
    assert fix == {
        ("b1@b.example", "bounced_hard", "550 5.1.1 user unknown"),
        ("b2@b.example", "bounced_soft", "452 4.2.2 mailbox full"),
        ("c1@c.example", "bounced_hard", "550 5.1.1 gone"),
        ("d1@d.example", "unsubscribed", ""),
        ("d2@d.example", "unsubscribed", ""),
        ("e1@e.example", "suppressed", ""),
        ("f1@f.example", "not_on_lists", ""),
        ("g1@g.example", "bounced_hard", "550 5.1.1 mailbox disabled"),
        ("g2@g.example", "unsubscribed", ""),
    }


def test_quarter_over_quarter_names_who_was_reached_last_time_only(session, journal_campaign):
    later = make_campaign(session, subject="2026 Q3")
    b1 = session.query(Subscriber).filter_by(email="b1@b.example").one()
    session.add(Delivery(campaign_id=later.id, subscriber_id=b1.id, email=b1.email, status="sent"))
    session.commit()
    rows = across(session, [later.id, journal_campaign.id])
    assert rows[later.id] == {"total": 7, "reached": 1, "lost": ["A 甲科技"]}
    assert rows[journal_campaign.id] == {"total": 7, "reached": 1, "lost": []}


def test_the_cli_prints_the_organisations_in_a_fresh_process(journal_campaign, test_env):
    env = {**os.environ, **test_env, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "campaign",
            "report",
            str(journal_campaign.id),
            "--json",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["organisations"] == EXPECTED
    text = CliRunner().invoke(main, ["campaign", "report", str(journal_campaign.id)])
    assert "organisations reached: 1 of 7" in text.output
    assert "  not reached: G 庚数据 (mixed)" in text.output


def test_the_report_page_and_the_xlsx_show_the_coverage(logged_in, journal_campaign):
    html = logged_in.get(f"/reports/{journal_campaign.id}").get_data(as_text=True)
    assert 'data-figure="organisations-reached">1<' in html
    assert "G 庚数据" in html and "550 5.1.1 mailbox disabled" in html
    assert "每个联系人都已退信" in html  # the reason's label, in the admin's Chinese
    xlsx = logged_in.get(f"/reports/{journal_campaign.id}/export.xlsx")
    book = load_workbook(io.BytesIO(xlsx.data), read_only=True)
    assert book.sheetnames == ["outcomes", "organisations", "domains"]
    rows = [tuple(r) for r in book["organisations"].iter_rows(values_only=True)]
    assert rows[0] == ("organisation", "reached", "reason", "email", "state", "detail")
    assert ("A 甲科技", "yes", None, None, None, None) in rows  # an empty cell reads as None
    assert (
        "B 乙贸易",
        "no",
        "all_bounced",
        "b2@b.example",
        "bounced_soft",
        "452 4.2.2 mailbox full",
    ) in rows
    assert len(rows) == 1 + 1 + 9  # header, the reached organisation, the contacts to fix


def test_the_overview_shows_organisations_reached(logged_in, journal_campaign):
    html = logged_in.get("/reports").get_data(as_text=True)
    assert 'data-organisations="1/7"' in html
