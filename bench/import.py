"""Benchmark: subscriber import speed and memory, and the subscribers page at 200,000.

Run as ``.venv/bin/python bench/import.py [--database sqlite|postgresql] [--rows N]``.
Without ``--database`` it runs on SQLite, and on PostgreSQL too when one answers at
127.0.0.1:5432 (a scratch database is created there and dropped afterwards; set
``BENCH_PG_URL`` for other credentials).

For each database it
1. imports a generated CSV of ``--small`` rows and one of ``--rows`` rows (2 % bad rows,
   Chinese names, a few hundred domains), each in a fresh child process, and prints
   rows/second and the child's peak RSS (sampled from /proc), then, in a second run, the
   tracemalloc peak of the import itself — memory must stay flat in the file size;
2. tops the database up to ``--page-rows`` subscribers and times the admin's
   ``GET /subscribers`` through the real Flask app (first page, next page, filtered and
   searched pages, and the two unindexed filters for reference), median of
   ``PAGE_RUNS`` requests.

Targets: ≥ 20,000 rows/s on PostgreSQL, ≥ 10,000 rows/s on SQLite, pages < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc_cpu import postgres_cpu_seconds  # noqa: E402

BAD_ROW_SHARE = 0.02
DOMAINS = 300
PAGE_RUNS = 21
RSS_SAMPLE_SECONDS = 0.01
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGETS = {"sqlite": 10_000, "postgresql": 20_000}
PAGE_TARGET_MS = 100.0
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"


def generate_csv(path: Path, rows: int, offset: int = 0, seed: int = 1) -> int:
    """Write a members file; return how many of its rows are bad."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("邮箱,姓名,单位,城市,会员编号\r\n")
        for i in range(offset, offset + rows):
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            if rng.random() < BAD_ROW_SHARE:
                bad += 1
                email = f"user{i}.example.org"  # no @: a bad row
            else:
                email = f"user{i}@domain{i % DOMAINS}.example.com"
            fh.write(f"{email},{name},大连第{i % 997}科技有限公司,大连,M{i:07d}\r\n")
    return bad


def pg_available() -> bool:
    """Whether something answers at 127.0.0.1:5432."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def scratch_database(kind: str, workdir: Path) -> tuple[str, Any]:
    """A fresh migrated database URL and a function that drops it."""
    from sqlalchemy import text

    from service.db import make_engine
    from service.migrate import upgrade

    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        return url, lambda: None
    admin_url = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"tidings_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


class RssSampler(threading.Thread):
    """Samples this process's resident set size (VmRSS) while the import runs.

    ``ru_maxrss`` would not do: a child process inherits its parent's high-water mark.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.running = True

    @staticmethod
    def current_kib() -> int:
        """VmRSS now, in KiB."""
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.current_kib())
            time.sleep(RSS_SAMPLE_SECONDS)

    def stop(self) -> int:
        """Stop sampling; the peak in KiB."""
        self.running = False
        self.join()
        return max(self.peak, self.current_kib())


def _server_pid(session: Any) -> int | None:
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(session.scalar(text("SELECT pg_backend_pid()")))


def _cpu_seconds(pid: int | None) -> float:
    """Every PostgreSQL process's CPU (the importer writes on more than one connection)."""
    return 0.0 if pid is None else postgres_cpu_seconds()


def child_import(url: str, csv_path: str, list_slug: str, trace: bool) -> None:
    """(In a child process) import the file; print one JSON line of figures."""
    import tracemalloc

    from service.db import Database
    from service.subscribers.import_terms import ImportTarget
    from service.subscribers.importer import import_file, resolve_list

    database = Database(url)
    sampler = RssSampler()
    rss_before = sampler.current_kib()
    sampler.start()
    with database.session() as session:
        target_list = resolve_list(session, list_slug)
        target = ImportTarget(target_list.id, "add", Path(csv_path).name)
        server = _server_pid(session)
        if trace:
            tracemalloc.start()
        server_cpu = _cpu_seconds(server)
        client_cpu = time.process_time()
        start = time.perf_counter()
        report = import_file(session, Path(csv_path), target, on_chunk=lambda _r: session.commit())
        session.commit()
        seconds = time.perf_counter() - start
        client_cpu = time.process_time() - client_cpu
        server_cpu = _cpu_seconds(server) - server_cpu
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
    database.dispose()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "processed": report.processed,
                "added": report.added,
                "errors": len(report.errors),
                "rss_before_kib": rss_before,
                "rss_peak_kib": sampler.stop(),
                "traced_peak_bytes": peak,
                "client_cpu": client_cpu,
                "server_cpu": server_cpu,
            }
        )
    )


def run_child(url: str, csv_path: Path, slug: str, trace: bool) -> dict[str, Any]:
    """Run ``child_import`` in a fresh interpreter (clean memory figures)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, str(csv_path), slug]
        + (["--trace"] if trace else []),
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def make_list(url: str, slug: str) -> None:
    """Add a list to the scratch database."""
    from service.db import Database
    from service.subscribers.lists import create_list

    database = Database(url)
    with database.transaction() as session:
        create_list(session, slug, slug)
    database.dispose()


def bench_imports(kind: str, url: str, workdir: Path, sizes: list[int]) -> list[dict[str, Any]]:
    """Import each size into its own list; speed run, then a tracemalloc run."""
    results = []
    offset = 0
    for size in sizes:
        for trace in (False, True):
            slug = f"l{size}{'t' if trace else ''}"
            make_list(url, slug)
            path = workdir / f"{slug}.csv"
            bad = generate_csv(path, size, offset=offset, seed=size)
            offset += size
            figures = run_child(url, path, slug, trace)
            figures.update(size=size, bad=bad, trace=trace, mb=path.stat().st_size / 1e6)
            results.append(figures)
            path.unlink()
            line = (
                f"  {kind:10} {size:>7,} rows ({figures['mb']:.1f} MB, {bad:,} bad): "
                if not trace
                else f"  {'':10} {'':>7}      with tracemalloc: "
            )
            if trace:
                line += f"import peak {figures['traced_peak_bytes'] / 2**20:.1f} MiB (Python heap)"
            else:
                rate = figures["processed"] / figures["seconds"]
                target = TARGETS[kind]
                cpu = figures["client_cpu"] + figures["server_cpu"]
                line += (
                    f"{figures['seconds']:.2f} s = {rate:,.0f} rows/s "
                    f"[{'ok' if rate >= target else 'BELOW'} target {target:,}]; "
                    f"CPU: importer {figures['client_cpu']:.2f} s"
                    + (f" + server {figures['server_cpu']:.2f} s" if figures["server_cpu"] else "")
                    + f" = {figures['processed'] / cpu:,.0f} rows per CPU-second; "
                    f"peak RSS {figures['rss_peak_kib'] / 1024:.0f} MiB "
                    f"(+{(figures['rss_peak_kib'] - figures['rss_before_kib']) / 1024:.0f} MiB "
                    "during the import)"
                )
                assert figures["errors"] == bad and figures["added"] == size - bad
            print(line, flush=True)
    return results


def top_up(url: str, total: int) -> int:
    """Insert plain subscribers (Core executemany) until the table has ``total`` rows;
    put every third on a list. Returns that list's id."""
    from sqlalchemy import Table, func, insert, select

    from service.db import Database
    from service.model import Membership, Subscriber, utcnow
    from service.subscribers.lists import create_list

    database = Database(url)
    subscribers = Subscriber.__table__
    memberships = Membership.__table__
    assert isinstance(subscribers, Table) and isinstance(memberships, Table)
    rng = random.Random(3)
    with database.transaction() as session:
        page_list = create_list(session, "pagebench", "Page bench")
        have = int(session.scalar(select(func.count(Subscriber.id))) or 0)
        now = utcnow()
        batch = 5000
        for start in range(have, total, batch):
            rows = [
                {
                    "email": f"filler{i}@d{i % DOMAINS}.example.net",
                    "email_ascii": f"filler{i}@d{i % DOMAINS}.example.net",
                    "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                    "organisation": f"公司{i % 5000}",
                    "language": "zh-CN",
                    "attributes": {"city": "大连" if i % 4 else "沈阳"},
                    "status": "enabled",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, min(start + batch, total))
            ]
            ids = session.execute(insert(subscribers).returning(subscribers.c.id), rows).scalars()
            members = [
                {
                    "subscriber_id": sid,
                    "list_id": page_list.id,
                    "status": "active",
                    "created_at": now,
                }
                for sid in ids
                if sid % 3 == 0
            ]
            if members:
                session.execute(insert(memberships), members)
        list_id = page_list.id
    if url.startswith("postgresql"):
        from sqlalchemy import text

        with database.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    database.dispose()
    return list_id


def bench_pages(kind: str, url: str, workdir: Path, total: int) -> dict[str, float]:
    """Median server time of the subscribers page (first page, filtered page)."""
    from sqlalchemy import func, select

    from service.accounts.users import create_user
    from service.config import load_settings
    from service.model import Subscriber
    from service.web.app import create_app, get_db

    list_id = top_up(url, total)
    settings = load_settings(
        {
            "TIDINGS_DATABASE_URL": url,
            "TIDINGS_DATA_DIR": str(workdir),
            "TIDINGS_SECRET_KEY": "bench-secret-key-0123456789abcdef",
        }
    )
    app = create_app(test_config={"TESTING": True}, settings=settings)
    with get_db(app).transaction() as session:
        count = session.scalar(select(func.count(Subscriber.id)))
        create_user(session, "bench@example.org", "bench password 123", "admin")
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert token is not None
    login = client.post(
        "/login",
        data={
            "email": "bench@example.org",
            "password": "bench password 123",
            "csrf_token": token.group(1),
        },
    )
    assert login.status_code == 302
    pages = {
        "first page": "/subscribers",
        "filtered (list+status+search)": (
            f"/subscribers?list_id={list_id}&member_status=active&q=%E7%8E%8B&sort=name&dir=asc"
        ),
        "search by prefix": "/subscribers?q=%E7%8E%8B%E4%BC%9F",
        "filtered (attribute, unindexed)": (
            "/subscribers?attr_key=city&attr_value=%E6%B2%88%E9%98%B3"
        ),
        "search anywhere (unindexed)": "/subscribers?q=%E4%BC%9F&anywhere=1",
        "next page (keyset)": None,
    }
    results = {}
    first = client.get("/subscribers").get_data(as_text=True)
    link = re.search(r'rel="next" href="([^"]+)"', first)
    assert link is not None
    pages["next page (keyset)"] = link.group(1).replace("&amp;", "&")
    for label, path in pages.items():
        assert path is not None
        times = []
        for _ in range(PAGE_RUNS):
            start = time.perf_counter()
            resp = client.get(path)
            times.append((time.perf_counter() - start) * 1e3)
            assert resp.status_code == 200
        median = statistics.median(times)
        results[label] = median
        verdict = "ok" if median < PAGE_TARGET_MS else "ABOVE"
        print(
            f"  {kind:10} GET {label:34} {median:6.1f} ms median, {min(times):6.1f} best "
            f"[{verdict} target {PAGE_TARGET_MS:.0f} ms] ({count:,} subscribers)",
            flush=True,
        )
    get_db(app).dispose()
    return results


def main() -> None:
    """Parse the arguments and run the benchmark on each database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--page-rows", type=int, default=200_000)
    parser.add_argument("--child", nargs=3, metavar=("URL", "CSV", "LIST"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_import(*args.child, trace=args.trace)
        return
    kinds = (
        [args.database]
        if args.database
        else ["sqlite"] + (["postgresql"] if pg_available() else [])
    )
    import logging

    logging.disable(logging.WARNING)
    for kind in kinds:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{kind}: (load average {load} on {os.cpu_count()} cores)", flush=True)
        with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp:
            workdir = Path(tmp)
            url, drop = scratch_database(kind, workdir)
            try:
                bench_imports(kind, url, workdir, [args.small, args.rows])
                if args.page_rows:
                    bench_pages(kind, url, workdir, args.page_rows)
            finally:
                drop()


if __name__ == "__main__":
    main()
