"""Benchmark: what each fault of issue 14 costs a real campaign, counted at the relay.

Run as ``.venv/bin/python bench/faults.py`` (SQLite, a fresh temporary database per
scenario) or add ``--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_faults``
(the database is dropped and created again for each scenario). ``--recipients N`` (default
2,000, plus the demo list's own few subscribers) and ``--scenario NAME`` to run one.

Each scenario sends the demo issue (excerpt mode, DKIM-signed) to the "members" list with
the parts of the crash-safety tests (``tests/integration/campaigns``): our own Redis, which
we may kill, real Celery worker processes (two pool processes), the beat jobs driven from
here every 0.3 s, and a counting aiosmtpd sink that keeps every Message-ID it accepts. The
sending knobs are the tests' fast ones (``TEST_SENDING``: batches of 50, retries after
0.3–2 s, a ``queued`` row requeued after 4 s) with the heartbeat's death grace at 2 s; the
error brake and its probes keep their production values (brake after 50 errors, first
probe after 15 s, then doubling).

* ``kill9``: at ≥ 400 sent, while a pool process holds claimed rows, the sink holds its
  DATA replies (4 s) so that both processes have a message on the wire, and one pool
  process is killed with SIGKILL; the worker forks another.
* ``resend``: ``kill9``, then "resend unknown" on the finished campaign (runs ``kill9``
  first and prints both rows).
* ``421``: at ≥ 400 sent, the sink answers MAIL FROM with 421 for 20 s (probes included).
* ``550``: 50 addresses, spread over the list, are refused with 550 5.1.1 from the start.
* ``redis``: at ≥ 400 sent, Redis is killed (SIGKILL, its files deleted) and started again
  empty on the same port a second later.

Counted from the sink's received Message-IDs against the ledger's rows, per recipient of
the audience: **delivered once** (exactly one copy accepted); **lost** (no row, or a row
neither ``unknown`` nor failed by design whose message the sink never accepted);
**duplicated** (more than one copy, unless the row says it was resent by "resend unknown"
and every copy carries the same Message-ID); **unknown** (rows the ledger leaves unknown,
with how many of them the sink did accept) against the sink connections the processes hit
by the fault held at that moment. The verdict is "ok" when nothing is lost or duplicated,
unknown ≤ those connections, the campaign finished, and the scenario's own checks hold;
the exit status is 1 when any verdict is NOT OK.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from service.embedded_redis import start_bundled_redis  # noqa: E402
from service.model.base import utcnow  # noqa: E402
from tests.integration.campaigns.conftest import Harness, OwnRedis  # noqa: E402
from tests.integration.campaigns.counting import (  # noqa: E402
    FAST_DEATH,
    Row,
    audience,
    finished,
    holding_rows,
    judge,
    settled_total,
)
from tests.integration.campaigns.counting import tally as count_into  # noqa: E402
from tests.integration.campaigns.demo_site import (  # noqa: E402
    bench_env,
    prepare_database,
    seed,
    start_campaign,
)
from tests.integration.campaigns.sink import Sink  # noqa: E402

DEFAULT_RECIPIENTS = 2000
FAULT_AT_SENT = 400
HOLD_SECONDS = 4.0  # the sink's held DATA reply: over the death grace, under the SMTP timeout
STORM_SECONDS = 20.0
REFUSED = 50
REFUSAL_TEXT = "no such user here"  # what the sink says with its 550
FINISH_TIMEOUT = 300.0
POOL = 2


@dataclass
class Parts:
    """One scenario's running parts and its campaign."""

    harness: Harness
    sink: Sink
    redis: OwnRedis
    database: str
    audience: list[str] = field(default_factory=list)
    campaign_id: int = 0


def cells(row: Row) -> list[str]:
    """The row as table cells."""
    conns = "—" if row.open_connections is None else str(row.open_connections)
    return [
        row.scenario,
        row.database,
        f"{row.recipients:,}",
        f"{row.once:,}",
        str(row.lost),
        str(row.duplicated),
        f"{row.unknown} ({row.unknown_received} accepted) / {conns}",
        f"{row.seconds:.1f}",
        row.verdict,
        "; ".join(row.notes),
    ]


HEADER = [
    "scenario",
    "database",
    "recipients",
    "delivered once",
    "lost",
    "duplicated",
    "unknown (accepted by the sink) / open connections at the fault",
    "time to finish (s)",
    "verdict",
    "notes",
]


@contextmanager
def running_parts(
    root: Path, name: str, database_url: str | None, recipients: int, pem: bytes
) -> Iterator[Parts]:
    """A fresh database, Redis, sink and seeded list for one scenario; torn down after."""
    from service.config import load_settings
    from service.web.app import create_app, get_db

    tmp = root / name
    tmp.mkdir()
    (tmp / "dkim.pem").write_bytes(pem)
    db_url = prepare_database(database_url or f"sqlite:///{tmp / 'faults.db'}")
    proc, redis_url = start_bundled_redis(tmp)
    own_redis = OwnRedis(tmp, proc, redis_url)
    sink = Sink()
    env = {**bench_env(tmp, db_url, redis_url, sink.port), "TIDINGS_SMTP_CAPTURE": "0"}
    os.environ.update(env)
    settings = load_settings(env)
    app = create_app(settings=settings)
    harness = Harness(app=app, settings=settings, env=env, redis_url=redis_url, log_dir=tmp)
    parts = Parts(harness, sink, own_redis, "PostgreSQL" if "postgresql" in db_url else "SQLite")
    try:
        harness.configure()  # the tests' fast knobs (TEST_SENDING)
        with harness.session() as s:
            seed(s, recipients)
        parts.audience = audience(harness)
        yield parts
    finally:
        harness.stop()
        sink.stop()
        if own_redis.proc.poll() is None:
            own_redis.proc.terminate()
            own_redis.proc.wait(timeout=10)
        get_db(app).dispose()


def pool_pids(worker: subprocess.Popen[bytes]) -> list[int]:
    """The pool processes of a worker."""
    return [c.pid for c in psutil.Process(worker.pid).children()]


def sink_connections(pids: list[int], port: int) -> dict[int, int]:
    """Established TCP connections to the sink, per process."""
    found = {}
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            conns = []
        found[pid] = sum(
            1 for c in conns if c.raddr and c.raddr.port == port and c.status == "ESTABLISHED"
        )
    return found


def tally(parts: Parts, row: Row, failed_by_design: frozenset[str] = frozenset()) -> None:
    """Count the sink's copies against the ledger's rows into ``row``."""
    count_into(parts.harness, parts.sink, parts.campaign_id, parts.audience, row, failed_by_design)


def drive_until_finished(parts: Parts, row: Row, t0: float) -> None:
    """Beat until the ledger says finished; the time taken goes into ``row``."""
    parts.harness.drive(parts.campaign_id, finished, timeout=FINISH_TIMEOUT)
    row.seconds = time.perf_counter() - t0


def at_fault(parts: Parts, row: Row) -> None:
    """Note when the fault came, and complain when the campaign was over by then."""
    p = parts.harness.progress(parts.campaign_id)
    row.notes.append(f"fault at {p['sent']} sent")
    if p["status"] == "finished":
        row.problems.append("the fault came after the campaign finished")


def send_until_fault(parts: Parts, row: Row) -> float:
    """A worker and the campaign started, beaten until ``FAULT_AT_SENT`` are sent; the
    sink connections open then go into ``row``. Returns the start time."""
    h = parts.harness
    worker = h.start_worker(concurrency=POOL)
    t0 = time.perf_counter()
    parts.campaign_id = cid = start_campaign(h)
    h.drive(cid, lambda p: int(p["sent"]) >= FAULT_AT_SENT)
    row.open_connections = sum(sink_connections(pool_pids(worker), parts.sink.port).values())
    at_fault(parts, row)
    return t0


def wait_for(what: Callable[[], bool], seconds: float) -> bool:
    """Poll ``what`` until true or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def run_kill9(parts: Parts, rows: list[Row]) -> None:
    """SIGKILL of one pool process while both have a message on the wire."""
    h, sink, row = parts.harness, parts.sink, Row("kill -9 of a pool process", parts.database)
    h.configure(**FAST_DEATH)
    worker = h.start_worker(concurrency=POOL)
    t0 = time.perf_counter()
    parts.campaign_id = start_campaign(h)
    h.drive(parts.campaign_id, holding_rows)
    with sink.state.lock:
        sink.state.slow_data = {e: HOLD_SECONDS for e in parts.audience}
        slowed = sink.state.slowed
    on_the_wire = wait_for(lambda: sink.state.slowed >= slowed + POOL, HOLD_SECONDS / 2)
    conns = sink_connections(pool_pids(worker), sink.port)
    at_fault(parts, row)
    killed = h.kill_pool_process(worker)
    with sink.state.lock:
        sink.state.slow_data = {}
    row.open_connections = conns.get(killed, 0)
    row.notes.append(
        f"killed pid {killed} with {row.open_connections} sink connection"
        + ("" if on_the_wire else " (not every process was in DATA)")
    )
    drive_until_finished(parts, row, t0)
    settled = settled_total(h)
    row.notes.append(f"settled {settled.claims} claim(s): {settled.requeued} rows requeued")
    if settled.claims < 1:
        row.problems.append("the dead process's claim was not settled")
    tally(parts, row)
    judge(row, h.status(parts.campaign_id))
    rows.append(row)


def run_resend(parts: Parts, rows: list[Row]) -> None:
    """``kill9``, then "resend unknown" on the finished campaign."""
    from service.campaigns.service import resend_unknown
    from service.reports.queries import campaign_report

    run_kill9(parts, rows)
    h, row = parts.harness, Row("then resend unknown", parts.database)
    row.open_connections = rows[-1].open_connections
    unknown_before = rows[-1].unknown
    t0 = time.perf_counter()
    with h.session() as s:
        moved = resend_unknown(s, parts.campaign_id)
        s.commit()
    drive_until_finished(parts, row, t0)
    tally(parts, row)
    with h.session() as s:
        report = campaign_report(s, parts.campaign_id)
    assert report is not None
    with parts.sink.state.lock:
        copies = [ids for ids in parts.sink.state.received.values() if len(ids) == 2]
    twice, same = len(copies), sum(len(set(ids)) == 1 for ids in copies)
    row.notes.append(
        f"resent {moved} of {unknown_before} unknown; report: resent {report['resent']}, "
        f"resent_sent {report['resent_sent']}; {twice} recipient(s) got 2 copies, "
        f"{same} of them with the same Message-ID"
    )
    if report["resent"] != unknown_before or moved != unknown_before:
        row.problems.append("the report's resent does not match the unknown rows")
    if twice > report["resent"]:
        row.problems.append("more recipients got two copies than the report says were resent")
    if not unknown_before:
        row.notes.append("nothing was unknown: the resend had nothing to send")
    judge(row, h.status(parts.campaign_id))
    rows.append(row)


def run_421(parts: Parts, rows: list[Row]) -> None:
    """The relay answers 421 for ``STORM_SECONDS``; the brake pauses, the probe heals."""
    from service.model import Campaign, RelayProbe

    h, sink, row = parts.harness, parts.sink, Row("421 storm, 20 s", parts.database)
    t0 = send_until_fault(parts, row)
    cid = parts.campaign_id
    with sink.state.lock:
        sink.state.busy_mail = 10**9
    storm_at = utcnow()
    threading.Timer(STORM_SECONDS, calm, args=(sink,)).start()
    drive_until_finished(parts, row, t0)
    with h.session() as s:
        probes = s.scalars(select(RelayProbe).where(RelayProbe.campaign_id == cid)).all()
        campaign = s.get(Campaign, cid)
        assert campaign is not None
        code, attention = campaign.status_code, h.progress(cid)["needs_attention"]
    failed_probes = sum(not p.ok for p in probes)
    healed = next(((p.at - storm_at).total_seconds() for p in probes if p.ok), None)
    row.notes.append(
        f"{sink.state.refused_mail} MAIL FROM refused; {len(probes)} probes "
        f"({failed_probes} refused), the first good one {healed or 0:.0f} s after the storm "
        f"began; last status code {code}"
    )
    if not probes or not probes[-1].ok or code != "campaign.resumed_after_probe":
        row.problems.append("the brake did not trip and heal by a probe")
    if attention is not None:
        row.problems.append("the finished campaign needs a person")
    tally(parts, row)
    judge(row, h.status(cid))
    rows.append(row)


def calm(sink: Sink) -> None:
    """End the 421 storm."""
    with sink.state.lock:
        sink.state.busy_mail = 0


def run_550(parts: Parts, rows: list[Row]) -> None:
    """``REFUSED`` addresses answered 550: failed with the server's text, once, suppressed."""
    from service.subscribers.suppression import is_suppressed

    h, sink, row = parts.harness, parts.sink, Row("550 for 50 addresses", parts.database)
    refused = set(parts.audience[:: max(1, len(parts.audience) // REFUSED)][:REFUSED])
    sink.state.reject = set(refused)
    h.start_worker(concurrency=POOL)
    t0 = time.perf_counter()
    parts.campaign_id = start_campaign(h)
    drive_until_finished(parts, row, t0)
    tally(parts, row, frozenset(refused))
    mine = [r for r in h.rows(parts.campaign_id) if r.email in refused]
    as_designed = [
        r
        for r in mine
        if r.status == "failed" and r.attempts == 1 and REFUSAL_TEXT in (r.last_error or "")
    ]
    with h.session() as s:
        suppressed = sum(is_suppressed(s, e) for e in refused)
    row.notes.append(
        f"{len(as_designed)} of {len(refused)} failed once with the server's text, "
        f"{suppressed} suppressed"
    )
    if len(as_designed) != len(refused) or suppressed != len(refused):
        row.problems.append("a refused address was retried, kept no reply, or not suppressed")
    judge(row, h.status(parts.campaign_id))
    rows.append(row)


def run_redis(parts: Parts, rows: list[Row]) -> None:
    """Redis killed and started again empty mid-campaign."""
    h, row = parts.harness, Row("Redis killed, restarted empty", parts.database)
    t0 = send_until_fault(parts, row)
    cid = parts.campaign_id
    parts.redis.kill()
    time.sleep(1.0)
    parts.redis.start()
    h.reset_producer()
    drive_until_finished(parts, row, t0)
    deferred = sum("Redis" in (r.last_error or "") for r in h.rows(cid))
    row.notes.append(f"{deferred} rows deferred because Redis lost their begun marks")
    tally(parts, row)
    judge(row, h.status(cid))
    rows.append(row)


SCENARIOS: dict[str, Callable[[Parts, list[Row]], None]] = {
    "kill9": run_kill9,
    "resend": run_resend,
    "421": run_421,
    "550": run_550,
    "redis": run_redis,
}
# "resend" runs "kill9" first: the whole run needs it only once.
ALL = ["resend", "421", "550", "redis"]


def run_one(args: argparse.Namespace, root: Path, name: str, pem: bytes) -> list[Row]:
    """One scenario in fresh parts; a scenario that breaks down gives a NOT OK row."""
    rows: list[Row] = []
    database = "PostgreSQL" if args.database_url else "SQLite"
    started = time.perf_counter()
    try:
        with running_parts(root, name, args.database_url, args.recipients, pem) as parts:
            SCENARIOS[name](parts, rows)
    except (Exception, pytest.fail.Exception) as exc:  # noqa: BLE001 - reported as a row
        row = Row(name, database, seconds=time.perf_counter() - started)
        row.problems.append(f"{type(exc).__name__}: {str(exc)[:300]}")
        rows.append(row)
    return rows


def print_table(rows: list[Row]) -> None:
    """The rows as a Markdown table."""
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for row in rows:
        print("| " + " | ".join(cells(row)) + " |")


def main() -> int:
    """Run the scenarios, print the table; exit status 1 when any verdict is NOT OK."""
    from service.mail.dkim_sign import generate_key

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=DEFAULT_RECIPIENTS)
    parser.add_argument("--database-url", default=None, help="Default: a SQLite file.")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    args = parser.parse_args()
    # A SIGTERM (``timeout``) unwinds like an error, so the workers and Redis are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    logging.getLogger("service.issues.render").setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="tidings-bench-faults-"))
    pem, _txt = generate_key()
    rows: list[Row] = []
    try:
        for name in [args.scenario] if args.scenario else ALL:
            done = run_one(args, root, name, pem)
            rows.extend(done)
            print(f"{name}: " + " · ".join(f"{r.scenario}: {r.verdict}" for r in done), flush=True)
        print_table(rows)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if any(r.problems for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
