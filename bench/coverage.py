"""Benchmark: a campaign's organisation coverage (issue 17, item 2).

Run as ``.venv/bin/python bench/coverage.py`` (``--organisations``, ``--contacts``,
``--database-url``). A fresh SQLite database (or the one named) gets ``--organisations``
member companies with ``--contacts`` people each on one list, and one campaign sent to
them: per organisation, one in four contacts hard-bounced, one in eight unsubscribed
(no delivery), the rest sent; every tenth organisation has all its contacts bounced and
every twentieth has its people on another list only. Prints the median over ``ROUNDS``
runs of ``coverage`` (the report's two statements and the suppression lookup) and of
``across`` over two campaigns, with the figures found.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from bench.timing import bench_database, median_ms, report_args  # noqa: E402
from service.db import Database  # noqa: E402
from service.model import (  # noqa: E402
    Campaign,
    Delivery,
    Event,
    MailingList,
    Membership,
    Organisation,
    Subscriber,
    campaign_lists,
    utcnow,
)
from service.reports.coverage import across, coverage  # noqa: E402

ROUNDS = 15


def _outcome(org: int, person: int) -> str | None:
    """The delivery status of one contact (None: unsubscribed, not sent to)."""
    if org % 10 == 0 or person % 4 == 1:
        return "bounced_hard"
    if person % 8 == 2:
        return None
    return "sent"


def _seed(db: Database, organisations: int, contacts: int) -> list[int]:
    now = utcnow()
    with db.session() as s:
        journal, other = (
            MailingList(slug="journal", name="Journal"),
            MailingList(slug="o", name="O"),
        )
        s.add_all([journal, other])
        campaigns = [Campaign(subject=f"Q{q}", from_addr="news@example.org") for q in (1, 2)]
        s.add_all(campaigns)
        s.flush()
        for c in campaigns:
            s.execute(campaign_lists.insert().values(campaign_id=c.id, list_id=journal.id))
        s.execute(
            insert(Organisation),
            [
                {"name": f"大连第{o}科技有限公司", "name_key": f"k{o:06d}", "attributes": {}}
                for o in range(organisations)
            ],
        )
        org_ids = [
            i
            for (i,) in s.execute(
                Organisation.__table__.select()
                .with_only_columns(Organisation.id)
                .order_by(Organisation.id)
            )
        ]
        people = [
            {
                "email": f"p{o}.{p}@m{o}.example.cn",
                "email_ascii": f"p{o}.{p}@m{o}.example.cn",
                "organisation_id": org_ids[o],
                "attributes": {},
            }
            for o in range(organisations)
            for p in range(contacts)
        ]
        s.execute(insert(Subscriber), people)
        ids = {
            e: i
            for i, e in s.execute(
                Subscriber.__table__.select().with_only_columns(Subscriber.id, Subscriber.email)
            )
        }
        memberships, deliveries = [], []
        for o in range(organisations):
            for p in range(contacts):
                sid = ids[f"p{o}.{p}@m{o}.example.cn"]
                status = _outcome(o, p)
                lst = other.id if o % 20 == 5 else journal.id
                memberships.append(
                    {
                        "subscriber_id": sid,
                        "list_id": lst,
                        "status": "unsubscribed" if status is None else "active",
                    }
                )
                if status and lst == journal.id:
                    for c in campaigns:
                        deliveries.append(
                            {
                                "campaign_id": c.id,
                                "subscriber_id": sid,
                                "email": f"p{o}.{p}@m{o}.example.cn",
                                "status": status,
                                "sent_at": now,
                            }
                        )
        s.execute(insert(Membership), memberships)
        s.execute(insert(Delivery), deliveries)
        bounced = s.execute(
            Delivery.__table__.select()
            .with_only_columns(Delivery.id, Delivery.campaign_id)
            .where(Delivery.status == "bounced_hard")
        ).all()
        s.execute(
            insert(Event),
            [
                {
                    "delivery_id": d,
                    "campaign_id": c,
                    "type": "bounce_hard",
                    "at": now,
                    "machine": False,
                    "detail": {"diagnostic": "550 5.1.1 user unknown"},
                }
                for d, c in bounced
            ],
        )
        s.commit()
        return [c.id for c in reversed(campaigns)]


def main() -> None:
    """Seed, time, print."""
    args = report_args(__doc__, {"organisations": 500, "contacts": 4})
    with bench_database("coverage", args.database_url) as (db, url):
        newest, older = _seed(db, args.organisations, args.contacts)
        one, found = median_ms(db, lambda s: coverage(s, newest), ROUNDS)
        both, _ = median_ms(db, lambda s: across(s, [newest, older]), ROUNDS)
    print(f"{args.organisations} organisations × {args.contacts} contacts, {url.split(':')[0]}")
    print(f"coverage: {one:.1f} ms (median of {ROUNDS})")
    print(
        f"total {found.total}, reached {len(found.reached)}, unreached {len(found.unreached)},"
        f" contacts to fix {len(found.contacts_to_fix())}"
    )
    print(f"across two campaigns: {both:.1f} ms")


if __name__ == "__main__":
    main()
