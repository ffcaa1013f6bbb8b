"""Benchmark: open pixel and click redirect under load, and the campaign report queries.

Run with ``.venv/bin/python bench/events.py`` (needs ``wrk``: ``apt-get install -y wrk``).

1. Starts a private service: a fresh SQLite database (or ``--database-url``), the bundled
   Redis, and gunicorn (``--workers`` × ``--threads``, gthread, as ``tidings web``).
2. Drives ``GET /o/<token>`` and ``GET /c/<token>`` with wrk (``--connections``,
   ``--duration``) over ``--deliveries`` distinct tokens, and prints requests/second and
   p50/p99 latency.
3. Flushes Redis into the database exactly as the worker does and checks that every
   request wrk saw answered was recorded (wrk does not count requests still in flight
   when it stops, so the database may hold up to ``connections`` more, never fewer).
4. Builds a campaign with 100,000 recipients and 500,000 events and times the queries of
   the report page (``campaign_report`` + time series + bounce and failure lists).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select  # noqa: E402

from service import tokens  # noqa: E402
from service.db import Database  # noqa: E402
from service.embedded_redis import start_bundled_redis  # noqa: E402
from service.events.tracking import (  # noqa: E402
    add_to_rollups,
    after_intake,
    flush_hits,
    pending_count,
    redis_for,
)
from service.migrate import upgrade  # noqa: E402
from service.model import (  # noqa: E402
    Campaign,
    Delivery,
    Event,  # noqa: E402
    Link,
)
from service.net import free_port, port_open  # noqa: E402
from service.reports import queries  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
REPORT_RECIPIENTS = 100_000
REPORT_EVENTS = 500_000
REPORT_RUNS = 5
INSERT_CHUNK = 20_000
LINKS = 12
WRK_SCRIPT = """
local paths = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
"""


def _env(data_dir: Path, database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "TIDINGS_DATA_DIR": str(data_dir),
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_REDIS_URL": redis_url,
        "TIDINGS_SECRET_KEY": SECRET,
        "TIDINGS_BASE_URL": "http://127.0.0.1",
        "TIDINGS_LOG_LEVEL": "WARNING",
    }


def _seed_tracking(db: Database, deliveries: int) -> tuple[int, list[int]]:
    """A campaign with ``deliveries`` sent deliveries and 12 links; return its id and ids."""
    with db.transaction() as session:
        campaign = Campaign(
            subject="bench",
            from_addr="news@example.org",
            status="running",
            started_at=datetime.now(UTC) - timedelta(hours=2),
        )
        session.add(campaign)
        session.flush()
        for position in range(LINKS):
            session.add(
                Link(
                    campaign_id=campaign.id,
                    url=f"https://example.org/{position}",
                    position=position,
                )
            )
        sent = datetime.now(UTC) - timedelta(hours=1)
        session.execute(
            insert(Delivery),
            [
                {
                    "campaign_id": campaign.id,
                    "email": f"r{i}@example.net",
                    "status": "sent",
                    "sent_at": sent,
                }
                for i in range(deliveries)
            ],
        )
        ids = list(session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign.id)))
        return campaign.id, ids


def _start_gunicorn(
    env: dict[str, str], port: int, workers: int, threads: int
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
            "service.web.wsgi:app",
        ],
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("gunicorn did not start")
        time.sleep(0.2)
    return proc


def _warm_up(port: int, paths: list[str]) -> None:
    """A few requests on fresh connections, so every gunicorn worker has loaded its app
    (a cold worker's first answer takes seconds and would show up as wrk timeouts)."""
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    def get(path: str) -> None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
        except urllib.error.URLError:
            pass  # a 404 is fine: the worker is warm all the same

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(get, paths * 16))


def _wrk(
    url: str, paths_file: Path, script: Path, connections: int, duration: int, threads: int
) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--latency",
            "-s",
            str(script),
            url,
            "--",
            str(paths_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": latency("50"),
        "p99": latency("99"),
        "bad": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "none",
    }


def _count_events(db: Database, kind: str) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count(Event.id)).where(Event.type == kind)) or 0)


def _load_and_check(db: Database, redis_url: str, kind: str, before: int, result: dict) -> None:
    client = redis_for(redis_url)
    started = time.monotonic()
    while pending_count(client):
        flush_hits(db, client, budget=600)
    flush_seconds = time.monotonic() - started
    recorded = _count_events(db, kind) - before
    lost = max(0, int(result["requests"]) - int(result["bad"]) - recorded)
    print(
        f"  {kind}: {result['rps']:,.0f} req/s, p50 {result['p50']:.2f} ms, "
        f"p99 {result['p99']:.2f} ms, {int(result['requests']):,} answered, "
        f"{int(result['bad'])} non-2xx/3xx, socket errors: {result['socket_errors']}"
    )
    print(f"  {kind}: {recorded:,} recorded after the flush ({flush_seconds:.1f} s), lost: {lost}")


def bench_tracking(args: argparse.Namespace, work: Path) -> None:
    """wrk against gunicorn for the pixel and the click redirect."""
    database_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    upgrade(database_url)
    redis_proc, redis_url = start_bundled_redis(work)
    db = Database(database_url)
    gunicorn = None
    try:
        _, ids = _seed_tracking(db, args.deliveries)
        port = free_port()
        gunicorn = _start_gunicorn(
            _env(work, database_url, redis_url), port, args.workers, args.threads
        )
        script = work / "paths.lua"
        script.write_text(WRK_SCRIPT)
        for kind, make in (
            ("open", lambda d: "/o/" + tokens.make_token(SECRET, tokens.OPEN, d)),
            (
                "click",
                lambda d: (
                    "/c/" + tokens.make_token(SECRET, tokens.CLICK, d, random.randrange(LINKS))
                ),
            ),
        ):
            paths = work / f"{kind}.txt"
            paths.write_text("\n".join(make(d) for d in ids) + "\n")
            _warm_up(port, ["/c/x", "/o/x"])
            before = _count_events(db, kind)
            result = _wrk(
                f"http://127.0.0.1:{port}",
                paths,
                script,
                args.connections,
                args.duration,
                args.wrk_threads,
            )
            _load_and_check(db, redis_url, kind, before, result)
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            gunicorn.wait(timeout=30)
        db.dispose()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)


def _event_columns(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "link_position"}


def _seed_report(db: Database) -> int:
    """100,000 deliveries and 500,000 events (opens, clicks, some bounces) in one campaign."""
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=3)
    with db.transaction() as session:
        campaign = Campaign(
            subject="report bench",
            from_addr="news@example.org",
            status="finished",
            started_at=start,
        )
        session.add(campaign)
        session.flush()
        cid = campaign.id
        for position in range(LINKS):
            session.add(
                Link(campaign_id=cid, url=f"https://example.org/{position}", position=position)
            )
    statuses = (
        ["sent"] * 90
        + ["bounced_hard"] * 3
        + ["bounced_soft"] * 3
        + ["failed"] * 2
        + ["complained", "unknown"]
    )
    with db.transaction() as session:
        for lo in range(0, REPORT_RECIPIENTS, INSERT_CHUNK):
            session.execute(
                insert(Delivery),
                [
                    {
                        "campaign_id": cid,
                        "email": f"r{i}@example.net",
                        "status": rng.choice(statuses),
                        "sent_at": start,
                        "last_error": "550 5.1.1 no such user",
                    }
                    for i in range(lo, min(REPORT_RECIPIENTS, lo + INSERT_CHUNK))
                ],
            )
        ids = list(session.scalars(select(Delivery.id).where(Delivery.campaign_id == cid)))
        link_ids = list(session.scalars(select(Link.id).where(Link.campaign_id == cid)))
    kinds = ["open"] * 70 + ["click"] * 27 + ["bounce_hard", "bounce_soft", "complaint"]
    for lo in range(0, REPORT_EVENTS, INSERT_CHUNK):
        rows = []
        for _ in range(lo, min(REPORT_EVENTS, lo + INSERT_CHUNK)):
            kind = rng.choice(kinds)
            position = rng.randrange(LINKS) if kind == "click" else -1
            rows.append(
                {
                    "delivery_id": rng.choice(ids),
                    "campaign_id": cid,
                    "type": kind,
                    "at": start + timedelta(seconds=rng.randrange(72 * 3600)),
                    "machine": rng.random() < 0.2,
                    "link_id": link_ids[position] if kind == "click" else None,
                    "link_position": position,
                    "detail": {"status": "5.1.1", "diagnostic": "550 no such user"}
                    if kind.startswith("bounce")
                    else {},
                }
            )
        with db.transaction() as session:
            session.execute(insert(Event), [_event_columns(r) for r in rows])
            # What the tracking flush does for every batch it writes.
            add_to_rollups(session, [r for r in rows if r["type"] in ("open", "click")])
    return cid


def _time_report(db: Database, cid: int, label: str) -> dict:
    """Median time of the report page's queries over ``REPORT_RUNS`` runs."""
    timings = []
    report: dict | None = None
    for _ in range(REPORT_RUNS):
        with db.session() as session:
            t0 = time.perf_counter()
            report = queries.campaign_report(session, cid)
            queries.time_series(session, cid)
            queries.bounce_list(session, cid)
            queries.failure_list(session, cid)
            timings.append((time.perf_counter() - t0) * 1000)
    assert report is not None
    print(
        f"  {label}: median {statistics.median(timings):.0f} ms, "
        f"max {max(timings):.0f} ms over {REPORT_RUNS} runs"
    )
    return report


def bench_report(args: argparse.Namespace, work: Path) -> None:
    """Time the report page's queries on a 100,000-recipient, 500,000-event campaign."""
    database_url = args.report_database_url or f"sqlite:///{work / 'report.db'}"
    upgrade(database_url)
    db = Database(database_url)
    try:
        started = time.monotonic()
        cid = _seed_report(db)
        print(
            f"  seeded {REPORT_RECIPIENTS:,} deliveries + {REPORT_EVENTS:,} events in "
            f"{time.monotonic() - started:.0f} s ({db.engine.dialect.name})"
        )
        with db.session() as session:
            # What flush_hits does after the batches it wrote (bench/README: without it
            # the first minutes after a bulk intake cost 3x).
            t0 = time.perf_counter()
            analyzed = after_intake(session)
            if analyzed:
                print(
                    f"  after_intake analyzed {', '.join(analyzed)} "
                    f"in {time.perf_counter() - t0:.2f} s"
                )
        report = _time_report(db, cid, "report page queries")
        if db.engine.dialect.name == "postgresql":
            # Right after a bulk load PostgreSQL has no statistics and no visibility map
            # (so no index-only scans); autovacuum fixes both soon after. Measure both.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("engagements", "event_hours", "events", "deliveries", "links"):
                    conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
            _time_report(db, cid, "after VACUUM ANALYZE")
        print(
            f"  (recipients {report['recipients']:,}, opens {report['opens_total']:,}, "
            f"clicks {report['clicks_total']:,})"
        )
    finally:
        db.dispose()


def main() -> None:
    """Parse options, run both benchmarks, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="wrk seconds per endpoint")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--report-database-url", default=None)
    parser.add_argument("--skip-tracking", action="store_true")
    parser.add_argument("--skip-report", action="store_true")
    args = parser.parse_args()
    if not args.skip_tracking and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="tidings-bench-events-"))
    try:
        if not args.skip_tracking:
            print(
                f"pixel and click: gunicorn {args.workers}×{args.threads} gthread, wrk "
                f"-c{args.connections} -d{args.duration}s, {args.deliveries:,} tokens"
            )
            bench_tracking(args, work)
        if not args.skip_report:
            print("report page:")
            bench_report(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
