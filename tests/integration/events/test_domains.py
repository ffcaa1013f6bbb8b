"""Delivery by recipient domain and mailbox provider (issue 17, item 4), over a real SQLite
ledger with a delivery of each kind, a fake resolver for the company domains' MX, and
the report page, the XLSX, the API and the command line in a fresh process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from service.mail.dns_records import DnsUnavailable
from service.model import Delivery, Engagement, Event, RecipientDomain, utcnow
from service.reports.domains import by_provider, domain_table
from service.reports.queries import campaign_report
from tests.contract import DOMAIN_KEYS
from tests.integration.api.conftest import Api, make_token
from tests.integration.events.events_factories import make_campaign, make_subscriber

ROOT = Path(__file__).resolve().parents[3]

# (address, status, attempts, human open, machine open, event)
LEDGER = [
    ("a1@qq.com", "sent", 1, True, True, None),
    ("a2@qq.com", "bounced_hard", 1, False, False, "bounce_hard"),
    ("a3@qq.com", "sent", 2, True, False, None),  # sent after one 4xx: deferred
    ("a4@qq.com", "retry_due", 1, False, False, None),  # got a 4xx, waits: deferred
    ("f1@FoxMail.com", "complained", 1, True, False, "complaint"),
    ("f2@foxmail.com", "retry_due", 0, False, False, None),  # our throttle: not deferred
    ("n1@163.com", "bounced_soft", 1, False, False, "bounce_soft"),
    ("n2@163.com", "failed", 3, False, False, None),  # gave up after 4xx: deferred
    ("c1@dlport.com.cn", "sent", 1, False, False, None),
    ("c2@dlport.com.cn", "sent", 1, True, False, None),
    ("o1@own.cn", "sent", 1, False, True, None),
    ("i1@例子.中国", "sent", 1, False, False, None),
    ("m1@members.example.org", "pending", 0, False, False, None),
]
MX = {
    "gmail.com": [(5, "gmail-smtp-in.l.google.com")],  # the canary: a public DNS
    "dlport.com.cn": [(5, "mxbiz1.qq.com"), (10, "mxbiz2.qq.com")],
    "own.cn": [(10, "mail.own.cn")],
}


def zone(name: str) -> list[tuple[int, str]]:
    """A resolver that knows ``MX``; the IDN's server does not answer."""
    if name == "xn--fsqu00a.xn--fiqs8s":
        raise DnsUnavailable("timeout")
    return MX.get(name, [])


def row(domain, provider, recipients, sent=0, deferred=0, hard=0, soft=0, complaints=0, opens=0):
    return {
        "domain": domain,
        "provider": provider,
        "recipients": recipients,
        "sent": sent,
        "deferred": deferred,
        "bounced_hard": hard,
        "bounced_soft": soft,
        "complaints": complaints,
        "opens": opens,
    }


EXPECTED = [
    row("qq.com", "tencent", 4, sent=3, deferred=2, hard=1, opens=2),
    row("163.com", "netease", 2, sent=1, deferred=1, soft=1),
    row("dlport.com.cn", "tencent_exmail", 2, sent=2, opens=1),
    row("foxmail.com", "tencent", 2, sent=1, complaints=1, opens=1),
    row("members.example.org", "members.example.org", 1),
    row("own.cn", "own.cn", 1, sent=1),
    row("例子.中国", "unknown", 1, sent=1),
]


@pytest.fixture
def ledger(session):
    """A campaign with the deliveries of ``LEDGER`` and their opens and events."""
    campaign = make_campaign(session, subject="2026 Q2")
    now = utcnow()
    for email, status, attempts, human, machine, event in LEDGER:
        person = make_subscriber(session, email.lower())
        delivery = Delivery(
            campaign_id=campaign.id,
            subscriber_id=person.id,
            email=email,
            status=status,
            attempts=attempts,
        )
        session.add(delivery)
        session.flush()
        for flag, wanted in ((False, human), (True, machine)):
            if wanted:
                session.add(
                    Engagement(
                        campaign_id=campaign.id,
                        delivery_id=delivery.id,
                        type="open",
                        machine=flag,
                        count=2,
                        first_at=now,
                        last_at=now,
                    )
                )
        if event:
            session.add(
                Event(delivery_id=delivery.id, campaign_id=campaign.id, type=event, detail={})
            )
    session.commit()
    return campaign


def _cached(session):
    session.expire_all()
    return {
        r.domain: (r.provider, r.mx, r.resolved)
        for r in session.execute(select(RecipientDomain)).scalars()
    }


def test_each_domain_counts_its_deliveries_of_each_kind(session, ledger):
    assert domain_table(session, ledger.id, zone) == EXPECTED


def test_the_domains_add_up_to_the_report_figures(session, ledger):
    report = campaign_report(session, ledger.id, domains=domain_table(session, ledger.id, zone))
    for key in ("recipients", "sent", "bounced_hard", "bounced_soft", "complaints"):
        assert sum(d[key] for d in report["domains"]) == report[key], key
    assert sum(d["opens"] for d in report["domains"]) == report["opens_unique"]
    assert report["domains"][0].keys() >= DOMAIN_KEYS


def test_what_the_mx_said_is_kept_and_not_asked_again(session, ledger):
    domain_table(session, ledger.id, zone)
    assert _cached(session) == {
        "dlport.com.cn": ("tencent_exmail", "mxbiz1.qq.com", True),
        "own.cn": ("own.cn", "mail.own.cn", True),
        "例子.中国": ("", "", False),  # no answer: tried again after a while
    }

    def unused(name):
        raise AssertionError(f"looked up {name} again")

    assert domain_table(session, ledger.id, unused) == EXPECTED


def test_an_unanswered_domain_is_tried_again_once_its_retry_is_due(session, ledger):
    domain_table(session, ledger.id, zone)
    session.execute(
        RecipientDomain.__table__.update()
        .where(RecipientDomain.domain == "例子.中国")
        .values(checked_at=utcnow() - timedelta(hours=2))
    )
    session.commit()
    asked = []

    def answers_now(name):
        asked.append(name)
        return [(10, "mxw.mxhichina.com")] if name.startswith("xn--") else zone(name)

    rows = {r["domain"]: r["provider"] for r in domain_table(session, ledger.id, answers_now)}
    assert asked == ["gmail.com", "xn--fsqu00a.xn--fiqs8s"]  # the canary, then the A-label
    assert rows["例子.中国"] == "alibaba_mail"


def test_with_no_dns_company_domains_are_unknown_and_the_report_still_comes(session, ledger):
    def sandbox(name):  # an intranet resolver: "no such name" to everything
        return []

    rows = {r["domain"]: r["provider"] for r in domain_table(session, ledger.id, sandbox)}
    assert rows["dlport.com.cn"] == rows["own.cn"] == "unknown"
    assert rows["qq.com"] == "tencent"  # the table needs no DNS
    assert {d: c[2] for d, c in _cached(session).items()} == {
        "dlport.com.cn": False,
        "own.cn": False,
        "例子.中国": False,
    }


def test_a_slow_dns_costs_the_report_its_budget_only(session, ledger):
    def slow(name):
        if name == "gmail.com":
            return MX["gmail.com"]
        time.sleep(2)
        return []

    start = time.monotonic()
    rows = {r["domain"]: r["provider"] for r in domain_table(session, ledger.id, slow, 0.3)}
    assert time.monotonic() - start < 1.5
    assert rows["dlport.com.cn"] == "unknown"
    assert _cached(session) == {}  # nothing learnt: the next view asks again


def test_the_page_groups_the_biggest_providers_and_folds_the_rest():
    rows = [row(f"{n}.example.cn", f"{n}.example.cn", 1) for n in range(20)]
    rows += [row(f"n{n}.com", "netease", 5, sent=5) for n in range(12)]
    table = by_provider(sorted(rows, key=lambda r: -r["recipients"]), top=5)
    netease = table.groups[0]
    assert netease.provider == "netease" and netease.totals["recipients"] == 60
    assert len(netease.shown()) == 8
    folded, rest = netease.folded()
    assert (folded, rest["recipients"], rest["sent"]) == (4, 20, 20)
    assert [g.key for g in table.groups[1:]] == [f"{n}.example.cn" for n in (0, 1, 10, 11)]
    assert table.others_domains == 16 and table.others["recipients"] == 16
    assert table.totals["recipients"] == 80


def _seed_cache(session):
    """What a DNS said earlier: the page, the export and the command line look nothing up."""
    now = utcnow()
    session.add_all(
        [
            RecipientDomain(domain="dlport.com.cn", provider="tencent_exmail", mx="mxbiz1.qq.com"),
            RecipientDomain(domain="own.cn", provider="own.cn", mx="mail.own.cn"),
            RecipientDomain(domain="例子.中国", provider="", resolved=False, checked_at=now),
        ]
    )
    session.commit()


def test_the_report_page_shows_the_providers_with_their_domains(logged_in, session, ledger):
    _seed_cache(session)
    html = logged_in.get(f"/reports/{ledger.id}").get_data(as_text=True)
    assert "按邮箱服务商" in html  # "By mailbox provider", in the admin's Chinese
    tencent = html.split('data-provider="tencent"')[1].split("</tbody>")[0]
    assert "腾讯（QQ 邮箱）" in tencent
    assert 'data-domain="qq.com"' in tencent and 'data-domain="foxmail.com"' in tencent
    assert '<td class="num" data-count="recipients">6</td>' in tencent
    assert '<td class="num" data-count="deferred">2</td>' in tencent
    exmail = html.split('data-provider="tencent_exmail"')[1].split("</tbody>")[0]
    assert "腾讯企业邮" in exmail and 'data-domain="dlport.com.cn"' in exmail
    own = html.split('data-provider="own.cn"')[1].split("</tbody>")[0]
    assert "自建邮件服务器" in own
    assert "服务商未知" in html.split('data-provider="例子.中国"')[1].split("</tbody>")[0]


def test_the_xlsx_has_a_sheet_of_every_domain(logged_in, session, ledger):
    _seed_cache(session)
    book = load_workbook(io.BytesIO(logged_in.get(f"/reports/{ledger.id}/export.xlsx").data))
    rows = [tuple(r) for r in book["domains"].iter_rows(values_only=True)]
    assert rows[0] == (
        "domain",
        "provider",
        "recipients",
        "sent",
        "deferred",
        "bounced_hard",
        "bounced_soft",
        "complaints",
        "opens",
    )
    assert rows[1:] == [tuple(r.values()) for r in EXPECTED]


def test_the_api_report_has_the_domains(client, session, ledger):
    _seed_cache(session)
    api = Api(client, make_token(session, "viewer"))
    report = api.get(f"/campaigns/{ledger.id}/report").get_json()
    assert report["domains"] == EXPECTED


def test_the_cli_report_has_the_domains_in_a_fresh_process(session, ledger, test_env):
    _seed_cache(session)
    env = {**os.environ, **test_env, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "service.cli", "campaign", "report", str(ledger.id)]
    done = subprocess.run(
        [*command, "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["domains"] == EXPECTED
    text = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "domains: 7 (recipients sent deferred hard soft complaints opens)" in text.stdout
    assert "dlport.com.cn (tencent_exmail)" in text.stdout
