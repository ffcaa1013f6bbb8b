"""Faults across machines (issue 14, goal 5): the promise of exactly one message per
recipient when the workers run on other hosts than the database and the queue.

Three test hosts made of network namespaces (``netns.py``): ``td-db`` runs a private
PostgreSQL cluster (``pg_ctl``), a redis-server and the counting SMTP sink, and the beat
jobs (this test's thread, moved there); ``td-w1`` and ``td-w2`` each run one real Celery
worker and reach ``td-db`` over their own veth pair only. Mid-campaign, in turn: w1's
cable is pulled (its worker lives on, cut off) for longer than the claims' death grace
and plugged back; w2's worker is killed with SIGKILL and started again; Redis is killed
and started again empty; PostgreSQL is restarted. The campaign must finish with every
recipient counted once at the sink, except rows the ledger reports ``unknown`` (at most
one copy each, and no more of them than the messages that could be on the wire).

It needs root, ``ip netns`` and a PostgreSQL server; it skips with the reason otherwise.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from service.config import load_settings
from service.embedded_redis import redis_answers, redis_server_binary
from service.mail.dkim_sign import generate_key
from service.model import SendClaim
from service.web.app import create_app, get_db
from tests.integration.campaigns.conftest import Harness, OwnRedis
from tests.integration.campaigns.counting import (
    FAST_DEATH,
    Row,
    assert_exactly_once,
    audience,
    finished,
    judge,
    settled_total,
    tally,
)
from tests.integration.campaigns.demo_site import bench_env, prepare_database, seed, start_campaign
from tests.integration.campaigns.netns import Hosts, Link, NetnsUnavailable, make_hosts
from tests.integration.campaigns.pg_cluster import Cluster, new_cluster
from tests.integration.campaigns.sink import Sink

log = logging.getLogger(__name__)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

RECIPIENTS = 3000
RATE = 120  # messages a second over both hosts: slow enough for four faults mid-campaign
POOL = 2  # pool processes per worker: each holds one relay connection at most
STEP = 250  # messages sent after one fault before the next
PG_PORT, REDIS_PORT = 5432, 6379  # the server host's own ports: nothing else listens there
REDIS_START_SECONDS = 15.0
CUT_AT_LEAST = 3 * FAST_DEATH["worker_dead_seconds"]
FINISH_TIMEOUT = 300.0


class HostRedis(OwnRedis):
    """A redis-server listening at every address of the server host (the bundled one
    binds 127.0.0.1 only), killed and restarted empty like ``OwnRedis``."""

    def stop(self) -> None:
        """SIGKILL, for good (its files go with the test's directory)."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def start(self) -> None:
        """Start on ``port``, empty; wait until it answers."""
        directory = self.directory / "redis"
        directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "0.0.0.0",
                "--protected-mode",
                "no",
                "--dir",
                str(directory),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--maxmemory-policy",
                "noeviction",
                "--logfile",
                str(directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + REDIS_START_SECONDS
        while not redis_answers(self.url, timeout=0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {directory}/redis.log")
            time.sleep(0.05)


@dataclass
class Site:
    """The running hosts and their parts."""

    hosts: Hosts
    harness: Harness
    sink: Sink
    redis: HostRedis
    cluster: Cluster
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # by host

    def worker_env(self, link: Link) -> dict[str, str]:
        """The TIDINGS_* variables of a worker on ``link``'s host."""
        at = link.server_address
        return {
            **self.harness.env,
            "TIDINGS_DATABASE_URL": self.cluster.url(at),
            "TIDINGS_REDIS_URL": f"redis://{at}:{self.redis.port}/0",
            "TIDINGS_SMTP_URL": f"smtp://{at}:{self.sink.port}",
        }

    def start_worker(self, link: Link) -> subprocess.Popen[bytes]:
        """A worker on ``link``'s host."""
        proc = self.harness.start_worker(POOL, self.hosts.prefix(link), self.worker_env(link))
        self.workers[link.host] = proc
        return proc


def _hosts_or_skip() -> Hosts:
    try:
        return make_hosts(str(os.getpid()), workers=2)
    except NetnsUnavailable as exc:
        pytest.skip(f"network namespaces unavailable: {exc}")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """Three hosts with PostgreSQL, Redis and the sink on ``td-db``; every process,
    namespace and directory removed afterwards, whatever happened."""
    hosts = _hosts_or_skip()
    cleanup: list[Callable[[], object]] = []
    try:
        with hosts.enter():
            yield from _site(hosts, tmp_path, monkeypatch, cleanup)
    finally:
        for link in hosts.links:
            _quietly(partial(hosts.restore, link))
        with hosts.enter():
            for done in reversed(cleanup):
                _quietly(done)
        hosts.remove()


def _quietly(done: Callable[[], object]) -> None:
    """One cleanup step; a failure is logged and the next steps still run."""
    try:
        done()
    except Exception:  # noqa: BLE001 - the namespaces must go whatever failed
        log.exception("cleanup step failed")


def _site(
    hosts: Hosts, tmp: Path, monkeypatch: pytest.MonkeyPatch, cleanup: list[Callable[[], object]]
) -> Iterator[Site]:
    try:
        cluster = new_cluster(PG_PORT)
    except RuntimeError as exc:
        pytest.skip(f"no private PostgreSQL cluster: {exc}")
    cleanup.append(cluster.remove)
    cluster.start()
    redis = HostRedis(tmp, None, f"redis://127.0.0.1:{REDIS_PORT}/0")  # type: ignore[arg-type]
    redis.start()
    cleanup.append(redis.stop)
    sink = Sink(hostname="0.0.0.0")
    cleanup.append(sink.stop)
    pem, _txt = generate_key()
    (tmp / "dkim.pem").write_bytes(pem)
    db_url = prepare_database(cluster.url("127.0.0.1"))
    env = {**bench_env(tmp, db_url, redis.url, sink.port), "TIDINGS_SMTP_CAPTURE": "0"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # code that reads its settings at import sees them
    app = create_app(settings=load_settings(env))
    cleanup.append(get_db(app).dispose)
    harness = Harness(app, load_settings(env), env, redis.url, tmp)
    cleanup.append(harness.stop)
    harness.configure(global_rate=RATE, **FAST_DEATH)
    with harness.session() as s:
        seed(s, RECIPIENTS)
    yield Site(hosts, harness, sink, redis, cluster)


def claimed_by(site: Site, host: str) -> int:
    """How many live claims the worker on ``host`` holds (tokens name the pool pid)."""
    try:
        pids = {str(p.pid) for p in psutil.Process(site.workers[host].pid).children()}
    except psutil.NoSuchProcess:
        return 0
    with site.harness.session() as s:
        tokens = s.scalars(select(SendClaim.token)).all()
    return sum(t.split(":")[1] in pids for t in tokens)


def sent(p: dict[str, object]) -> int:
    """Rows sent so far."""
    return int(p["sent"])  # type: ignore[call-overload]


def next_step(site: Site, cid: int, holder: str | None = None) -> int:
    """Beat until ``STEP`` more rows are sent (and, with ``holder``, that host's worker
    holds claims: a fault between two batches would prove nothing); the rows sent."""
    last = sent(site.harness.progress(cid))

    def ready(p: dict[str, object]) -> bool:
        return sent(p) >= last + STEP and (holder is None or claimed_by(site, holder) > 0)

    return sent(site.harness.drive(cid, ready))


def cut_cable(site: Site, cid: int) -> str:
    """w1's cable pulled while it holds claims, for longer than their death grace: the
    beat jobs settle its claims meanwhile; its worker lives on and is plugged back."""
    w1 = site.hosts.links[0]
    at = next_step(site, cid, holder=w1.host)
    site.hosts.cut(w1)
    cut_at = time.monotonic()

    def settled_and_long(_p: dict[str, object]) -> bool:
        return claimed_by(site, w1.host) == 0 and time.monotonic() - cut_at > CUT_AT_LEAST

    site.harness.drive(cid, settled_and_long)
    site.hosts.restore(w1)
    return f"w1 cut at {at} sent for {time.monotonic() - cut_at:.1f} s"


def kill_worker(site: Site, cid: int) -> str:
    """w2's worker killed with SIGKILL while it holds claims; a new one starts there."""
    w2 = site.hosts.links[1]
    at = next_step(site, cid, holder=w2.host)
    site.harness.kill_worker(site.workers[w2.host])
    site.start_worker(w2)
    return f"kill -9 w2 at {at} sent"


def restart_redis(site: Site, cid: int) -> str:
    """Redis killed (its files deleted) and started again empty."""
    at = next_step(site, cid)
    site.redis.kill()
    time.sleep(1.0)
    site.redis.start()
    site.harness.reset_producer()
    return f"Redis restarted at {at} sent"


def restart_postgres(site: Site, cid: int) -> str:
    """PostgreSQL restarted (fast shutdown: every session cut, open transactions lost)."""
    at = next_step(site, cid)
    site.cluster.stop("fast")
    site.cluster.start()
    return f"PostgreSQL restarted at {at} sent"


# Each fault, and how many pool processes it hits (each may have one message on the wire).
FAULTS = [
    (cut_cable, POOL),
    (kill_worker, POOL),
    (restart_redis, 2 * POOL),
    (restart_postgres, 2 * POOL),
]


def test_cut_kill_and_restarts_across_hosts_deliver_every_recipient_once(site: Site) -> None:
    h = site.harness
    t0 = time.monotonic()
    for link in site.hosts.links:
        site.start_worker(link)
    cid = start_campaign(h)
    notes = [fault(site, cid) for fault, _hit in FAULTS]
    exposed = sum(hit for _fault, hit in FAULTS)
    p = h.drive(cid, finished, timeout=FINISH_TIMEOUT)
    statuses = assert_exactly_once(h, site.sink, cid)
    recipients = audience(h)
    row = Row("faults across hosts", "PostgreSQL", open_connections=exposed)
    tally(h, site.sink, cid, recipients, row)
    judge(row, h.status(cid))
    settled = settled_total(h)
    print(
        f"\n{'; '.join(notes)}; finished in {time.monotonic() - t0:.1f} s; "
        f"statuses {statuses}; unknown {row.unknown} ({row.unknown_received} accepted) "
        f"of at most {exposed}; settled {settled.claims} claims ({settled.requeued} requeued, "
        f"{settled.unknown} unknown)"
    )
    assert row.problems == [], row.verdict
    assert row.lost == 0 and row.duplicated == 0
    assert p["unknown"] == row.unknown <= exposed
    assert statuses.get("sent", 0) + statuses.get("unknown", 0) == len(recipients)
    # The cut worker's and the killed worker's claims were settled by their missing
    # heartbeats, and the cut worker outlived its cut.
    assert settled.claims >= 2 and settled.requeued > 0
    assert site.workers[site.hosts.links[0].host].poll() is None
