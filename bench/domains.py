"""Benchmark: a campaign report's delivery by recipient domain (issue 17, item 4).

Run as ``.venv/bin/python bench/domains.py`` (``--recipients``, ``--domains``,
``--database-url``). A fresh SQLite database (or the one named) gets one campaign sent
to ``--recipients`` addresses: half at the big consumer domains (qq.com, 163.com, …),
half spread over ``--domains`` company domains; one in ten bounced, one in twenty
deferred, one in three opened. Prints, in the same run, the median over ``ROUNDS`` of the
report without its domain table and with it (the providers of the company domains
cached, as after a first view), their ratio, and the first view's cost with no DNS
(every company domain looked up, found unanswerable and stored).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, insert, select  # noqa: E402

from bench.timing import bench_database, median_ms, report_args  # noqa: E402
from service.db import Database  # noqa: E402
from service.model import (  # noqa: E402
    Campaign,
    Delivery,
    Engagement,
    RecipientDomain,
    utcnow,
)
from service.reports.domains import domain_table  # noqa: E402
from service.reports.queries import campaign_report  # noqa: E402

ROUNDS = 15
CONSUMER = ("qq.com", "163.com", "126.com", "foxmail.com", "sina.com", "gmail.com", "139.com")


def _status(n: int) -> str:
    if n % 10 == 3:
        return "bounced_hard"
    return "retry_due" if n % 20 == 7 else "sent"


def _seed(db: Database, recipients: int, domains: int) -> int:
    now = utcnow()
    with db.session() as s:
        campaign = Campaign(subject="Q2", from_addr="news@example.org", status="finished")
        s.add(campaign)
        s.flush()
        rows = []
        for n in range(recipients):
            host = CONSUMER[n % len(CONSUMER)] if n % 2 else f"co{(n // 2) % domains}.com.cn"
            status = _status(n)
            attempts = 1 if status == "retry_due" else 1 + (n % 20 == 9)
            rows.append(
                {
                    "campaign_id": campaign.id,
                    "email": f"p{n}@{host}",
                    "status": status,
                    "attempts": attempts,
                    "sent_at": now,
                }
            )
        s.execute(insert(Delivery), rows)
        opened = s.execute(select(Delivery.id).where(Delivery.id % 3 == 0)).scalars().all()
        s.execute(
            insert(Engagement),
            [
                {
                    "campaign_id": campaign.id,
                    "delivery_id": d,
                    "type": "open",
                    "machine": False,
                    "link_position": -1,
                    "count": 1,
                    "first_at": now,
                    "last_at": now,
                }
                for d in opened
            ],
        )
        s.commit()
        return campaign.id


def no_dns(name: str) -> list[tuple[int, str]]:
    """A resolver that knows no name (this machine's DNS, often)."""
    return []


def exmail(name: str) -> list[tuple[int, str]]:
    """A public DNS where every company is on Tencent Exmail."""
    return [(5, "gmail-smtp-in.l.google.com" if name == "gmail.com" else "mxbiz1.qq.com")]


def main() -> None:
    """Seed, time, print."""
    args = report_args(__doc__, {"recipients": 10_000, "domains": 2_000})
    with bench_database("domains", args.database_url) as (db, url):
        cid = _seed(db, args.recipients, args.domains)
        with db.session() as s:
            start = time.perf_counter()
            cold = domain_table(s, cid, no_dns)
            first = (time.perf_counter() - start) * 1000
            s.execute(delete(RecipientDomain))
            s.commit()
            domain_table(s, cid, exmail)  # what a DNS said once: now cached
        without, _ = median_ms(db, lambda s: campaign_report(s, cid, domains=[]), ROUNDS)
        with_domains, report = median_ms(db, lambda s: campaign_report(s, cid), ROUNDS)
    print(
        f"{args.recipients} recipients over {len(report['domains'])} domains, {url.split(':')[0]}"
    )
    print(f"report without domains: {without:.1f} ms (median of {ROUNDS})")
    print(f"report with domains (providers cached): {with_domains:.1f} ms")
    print(f"ratio: {with_domains / without:.2f}")
    print(f"first view with no DNS (canary, {len(cold)} rows, storing): {first:.1f} ms")


if __name__ == "__main__":
    main()
