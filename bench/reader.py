"""Benchmark: the public reader endpoints through the real Flask app (SQLite, real Redis).

Run as ``.venv/bin/python bench/reader.py [--runs N]``. Starts the bundled Redis (the rate
limiter's store and the Celery broker) in a scratch directory, migrates a scratch SQLite
database, and times, median and 95th percentile per request:

- ``POST /unsubscribe/<token>`` with ``List-Unsubscribe=One-Click`` (the RFC 8058 path:
  token check, synchronous write, commit), each on a different subscriber;
- ``POST /subscribe/<slug>`` on a double opt-in list (rate-limit checks in Redis, insert,
  token, consent row, commit, the confirmation cap, Celery enqueue), each from a different
  IP and address;
- ``GET /unsubscribe/<token>`` (the confirmation page).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(
    runs: int, call: Callable[[int], int], before: Callable[[], None] = lambda: None
) -> tuple[float, float]:
    samples = []
    for i in range(runs):
        before()  # untimed
        start = time.perf_counter()
        status = call(i)
        samples.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise SystemExit(f"request {i} answered {status}")
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def _clear_cap(app: Any) -> None:
    from service.web.context import confirmation_cap

    with app.app_context():
        confirmation_cap().clear()


def main() -> None:
    """Set up a scratch service, run the three timings, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()

    import os

    from service.config import load_settings
    from service.embedded_redis import start_bundled_redis
    from service.migrate import upgrade
    from service.model import MailingList, Membership, Subscriber
    from service.tokens import UNSUBSCRIBE, make_token
    from service.web.app import create_app, get_db

    scratch = Path(tempfile.mkdtemp(prefix="tidings-bench-reader-"))
    redis_proc, redis_url = start_bundled_redis(scratch)
    try:
        env = {
            "TIDINGS_DATA_DIR": str(scratch),
            "TIDINGS_REDIS_URL": redis_url,
            "TIDINGS_SECRET_KEY": "bench-secret-key-0123456789",
        }
        os.environ.update(env)
        settings = load_settings(env)
        upgrade(settings.database_url)
        app = create_app(settings=settings)
        with get_db(app).transaction() as session:
            quarterly = MailingList(slug="quarterly", name="季刊", double_opt_in=True, public=True)
            session.add(quarterly)
            session.flush()
            subs = [
                Subscriber(email=f"r{i}@example.org", email_ascii=f"r{i}@example.org")
                for i in range(args.runs)
            ]
            session.add_all(subs)
            session.flush()
            session.add_all(
                Membership(subscriber_id=s.id, list_id=quarterly.id, status="active") for s in subs
            )
            ids = [s.id for s in subs]
            list_id = quarterly.id
        client = app.test_client(use_cookies=False)
        urls = [
            f"/unsubscribe/{make_token(settings.secret_key, UNSUBSCRIBE, i, list_id)}" for i in ids
        ]
        rows = {
            "GET /unsubscribe/<token> (page)": _timed(
                args.runs, lambda i: client.get(urls[i]).status_code
            ),
            "POST /unsubscribe/<token> (one-click)": _timed(
                args.runs,
                lambda i: client.post(urls[i], data={"List-Unsubscribe": "One-Click"}).status_code,
            ),
            "POST /subscribe/<slug> (double opt-in)": _timed(
                args.runs,
                lambda i: (
                    client.post(
                        "/subscribe/quarterly",
                        data={"email": f"new{i}@example.org", "name": "王芳"},
                        environ_base={"REMOTE_ADDR": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"},
                    ).status_code
                ),
                # More sign-ups than the hourly cap on confirmation mails lets through:
                # each starts from an empty hour (the cap's check itself is still timed).
                before=lambda: _clear_cap(app),
            ),
        }
        print(f"{args.runs} requests each, SQLite, bundled Redis")
        print(f"{'request':42} {'median ms':>10} {'p95 ms':>8}")
        for name, (median, p95) in rows.items():
            print(f"{name:42} {median:10.2f} {p95:8.2f}")
        get_db(app).dispose()
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
