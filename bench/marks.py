"""Benchmark: what the begun marks and the claim heartbeat cost per message (issue 14).

Run as ``.venv/bin/python bench/marks.py`` (``--messages``, ``--batch-size``). What runs:
our own bundled Redis and a fresh SQLite file, migrated. Per message the sender makes one
RPUSHX (the message's begun mark with the previous message's outcome): it sends it before
building and signing the message and reads the answer right before MAIL FROM, so in the
sender its wall time overlaps the signing and only its CPU counts (measured here back to
back, which also shows the wall time). Per batch it
opens a claim (one Redis pipeline, one INSERT in the claim's own transaction) and closes
it (one DELETE + commit, one DEL). The heartbeat is one UPDATE every few seconds per
batch, on its own thread: nothing per message.

It prints, for the per-message mark and for the per-batch claim spread over the batch,
the wall time and this process's CPU time per message (median of ``ROUNDS`` rounds).
Redis's own CPU is not counted; ``bench/send.py`` prints it for a whole campaign.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS = 7


def _measure(run: Callable[[], int]) -> tuple[float, float]:
    """Median wall and CPU µs per unit over ``ROUNDS`` runs of ``run`` (returns units)."""
    walls, cpus = [], []
    for _ in range(ROUNDS):
        wall, cpu = time.perf_counter(), time.process_time()
        units = run()
        walls.append(1e6 * (time.perf_counter() - wall) / units)
        cpus.append(1e6 * (time.process_time() - cpu) / units)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()

    import redis

    from service.campaigns.claims import Claim, Marks, close_claim, open_claim
    from service.db import Database
    from service.embedded_redis import start_bundled_redis
    from service.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="tidings-bench-marks-"))
    proc, url = start_bundled_redis(tmp)
    try:
        client = redis.Redis.from_url(url)
        when = datetime.now(UTC)

        def marks() -> int:
            client.rpush("tidings:marks:bench", "c")
            batch = Marks(client, Claim(1, "bench", marked=True))
            for i in range(args.messages):
                if not batch.begin(i):
                    raise RuntimeError("the marks list vanished")
                batch.sent(i, when, f"<{i}.abcdefghijklmnop@news.example.org>")
            client.delete("tidings:marks:bench")
            return args.messages

        def ping() -> int:  # the bare round trip, for scale
            for _ in range(args.messages):
                client.ping()
            return args.messages

        db_url = f"sqlite:///{tmp / 'marks.db'}"
        upgrade(db_url)
        database = Database(db_url)
        batches = max(1, args.messages // args.batch_size // 10)

        def claims() -> int:
            with database.session() as session:
                for _ in range(batches):
                    held = open_claim(session, client, campaign_id=1)
                    session.commit()  # in the sender, the claim UPDATE's own commit
                    close_claim(session, client, held)
            return batches * args.batch_size

        mark_wall, mark_cpu = _measure(marks)
        ping_wall, ping_cpu = _measure(ping)
        claim_wall, claim_cpu = _measure(claims)
        print(
            f"begun mark (one RPUSHX with the previous outcome), {args.messages:,} messages: "
            f"{mark_wall:.1f} µs per message wall, {mark_cpu:.1f} µs CPU in the sender"
        )
        print(
            f"  for scale, a bare PING round trip: {ping_wall:.1f} µs wall, {ping_cpu:.1f} µs CPU"
        )
        print(
            f"claim open + close per batch of {args.batch_size} (SQLite): "
            f"{claim_wall * args.batch_size / 1000:.2f} ms per batch → "
            f"{claim_wall:.1f} µs per message wall, {claim_cpu:.1f} µs CPU"
        )
        print(f"together: {mark_wall + claim_wall:.1f} µs per message wall")
        database.dispose()
        return 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
