"""Benchmark: the Outbox's queries at 100,000 captured messages against the same at 1,000.

Run as ``.venv/bin/python bench/outbox.py`` (``--messages``, ``--baseline``). What runs:
two fresh capture folders, filled through the index's own write function
(``CaptureIndex.add``, one transaction) with envelopes like the real ones: recipients
on a handful of domains, Chinese and English subjects of 20 campaigns, 5 % transactional
mail with no campaign, sizes of 40–70 KB. The ``.eml`` files themselves are not written
(100,000 of them would be 6 GB): listing, searching and filtering read only the index.
``save()`` itself, which writes the files and indexes them, is timed on its own.

For each query the Outbox page makes (``search`` for the rows, ``count_matching`` for the
heading, ``campaign_counts`` for the filter) it prints the median over ``ROUNDS`` runs at
the baseline size and at the full size, and their ratio. A deep page is the keyset page
90 % of the way down. The baseline capture is the yardstick: same machine, same run.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.mail.capture import CaptureStore  # noqa: E402
from service.mail.capture_index import OutboxQuery  # noqa: E402

ROUNDS = 25
CAMPAIGNS = 20
DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "example.org", "dlchamber.cn"]
TOPICS = ["数字贸易周报", "会员通讯", "Weekly digest", "活动预告", "政策解读", "行业观察"]
NAMES = ["wang", "li", "zhang", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu"]


def envelopes(n: int, seed: int = 16) -> Iterator[dict[str, Any]]:
    """``n`` envelopes as the capture writes them, oldest first."""
    rng = random.Random(seed)
    start = 1_764_000_000.0
    for i in range(n):
        campaign = None if rng.random() < 0.05 else 1 + i * CAMPAIGNS // n
        if campaign is None:
            subject = "请确认您的订阅"
        else:
            topic = TOPICS[campaign % len(TOPICS)]
            subject = f"{topic} 第{campaign}期：大连市数字贸易协会 2026 年会员通讯"
        rcpt = f"{rng.choice(NAMES)}.{i}@{rng.choice(DOMAINS)}"
        yield {
            "id": f"{int((start + i) * 1e9):019d}-{i:08x}",
            "received_at": start + i,
            "mail_from": f"b+{i}.{rng.getrandbits(32):08x}@bounces.dlchamber.cn",
            "rcpt_tos": [rcpt],
            "subject": subject,
            "size": rng.randint(40_000, 70_000),
            "campaign_id": campaign,
        }


def fill(directory: Path, n: int) -> tuple[CaptureStore, float]:
    """A fresh capture of ``n`` messages, and the seconds the filling took."""
    store = CaptureStore(directory)
    directory.mkdir(parents=True)
    began = time.perf_counter()
    store.index().add(envelopes(n))
    return store, time.perf_counter() - began


def queries(n: int) -> dict[str, OutboxQuery]:
    """The Outbox's queries for a capture of ``n``, each finding the same kind of rows."""
    rare = n // 3  # one recipient, found by part of the address
    return {
        "first page": OutboxQuery(),
        "deep page (90 %)": OutboxQuery(before=n - int(n * 0.9)),
        "address, one match": OutboxQuery(text=f".{rare}@"),
        "address, a domain": OutboxQuery(text="@163.com"),
        "subject, one campaign": OutboxQuery(text="第7期"),
        "subject, 2 chars (scan)": OutboxQuery(text="确认"),
        "subject, no match": OutboxQuery(text="不存在的主题"),
        "2 chars, no match (scan)": OutboxQuery(text="无此"),
        "campaign filter": OutboxQuery(campaign_id=7),
        "campaign, deep page": OutboxQuery(campaign_id=7, before=7 * n // CAMPAIGNS + 10),
        "campaign + address": OutboxQuery(text="@qq.com", campaign_id=7),
    }


def page_work(store: CaptureStore, query: OutboxQuery) -> Callable[[], object]:
    """What the Outbox view asks the store for one request."""

    def run() -> object:
        page = store.search(query)
        return page, store.count_matching(query), store.campaign_counts()

    return run


def median_ms(run: Callable[[], object]) -> float:
    """Median milliseconds of ``ROUNDS`` runs, after one warm-up."""
    run()
    times = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


def save_ms(directory: Path, count: int) -> tuple[float, int]:
    """Milliseconds per ``save()`` of a campaign-sized message (files plus index), and
    the message's size in bytes."""
    msg = EmailMessage()
    msg["From"] = "大连市数字贸易协会 <news@dlchamber.cn>"
    msg["To"] = "wang.1@qq.com"
    msg["Subject"] = "数字贸易周报 第7期"
    msg["Message-ID"] = "<c7.d1.abcdef123456@dlchamber.cn>"
    msg["Feedback-ID"] = "c7:newsletter:tidings"
    msg.set_content("正文 " * 3000)
    msg.add_alternative("<p>" + "正文 " * 6000 + "</p>", subtype="html")
    data = msg.as_bytes()
    store = CaptureStore(directory)
    began = time.perf_counter()
    for _ in range(count):
        store.save(data, "b@bounces.dlchamber.cn", ["wang.1@qq.com"])
    return 1000 * (time.perf_counter() - began) / count, len(data)


def main() -> int:
    """Fill both captures, time every query at both sizes, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    try:
        small, _ = fill(work / "small", args.baseline)
        big, fill_s = fill(work / "big", args.messages)
        print(f"filled {args.messages:,} entries in {fill_s:.1f} s; index file ", end="")
        print(f"{big.index().path.stat().st_size / 1e6:.1f} MB")
        per_save, size = save_ms(work / "save", 300)
        print(f"save() of a {size / 1024:.0f} KB message, files and index: {per_save:.2f} ms")
        print()
        print(f"{'query':26} {args.baseline:>9,} {args.messages:>9,}  ratio  rows")
        small_q, big_q = queries(args.baseline), queries(args.messages)
        worst = 0.0
        for name in small_q:
            a = median_ms(page_work(small, small_q[name]))
            b = median_ms(page_work(big, big_q[name]))
            rows = len(big.search(big_q[name]).entries)
            total, capped = big.count_matching(big_q[name])
            worst = max(worst, b / a)
            print(f"{name:26} {a:7.2f}ms {b:7.2f}ms {b / a:5.1f}×  {rows:>3} of {total:,}", end="")
            print("+" if capped else "")
        print(f"\nworst ratio {worst:.1f}×")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
