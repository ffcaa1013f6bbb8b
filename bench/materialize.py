"""Benchmark: making a campaign's delivery rows (issue 18 item 3: 100,000 under 5 s).

Run as ``.venv/bin/python bench/materialize.py --recipients 100000`` (add
``--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_materialize`` for
PostgreSQL; that database is dropped and created again; ``--profile`` prints cProfile's
top entries). A fresh database gets the demo issue and list with N subscribers; one
campaign is started (``engine.start``) and ``recipients.materialize`` is timed alone, with
no worker: ``bench/send.py`` shows the same work while the workers already send.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.campaigns.demo_site import bench_env, prepare_database, seed  # noqa: E402


def main() -> int:
    """Seed, start, time the materialization; print the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="Default: a SQLite file.")
    parser.add_argument("--profile", action="store_true", help="Print cProfile's top 20.")
    args = parser.parse_args()

    from service.mail.dkim_sign import generate_key

    tmp = Path(tempfile.mkdtemp(prefix="tidings-bench-materialize-"))
    db_url = prepare_database(args.database_url or f"sqlite:///{tmp / 'bench.db'}")
    (tmp / "dkim.pem").write_bytes(generate_key()[0])
    env = bench_env(tmp, db_url, "redis://127.0.0.1:1/0", 2525)  # neither is used here
    os.environ.update(env)
    from service.campaigns import engine
    from service.campaigns.drafts import create_campaign
    from service.campaigns.recipients import materialize
    from service.config import load_settings
    from service.db import Database

    settings = load_settings(env)
    with Database(db_url).session() as s:
        seed(s, args.recipients)
        campaign = create_campaign(
            s, settings, issue_id=1, lists=["members"], content_mode="excerpt"
        )
        s.commit()
        engine.start(s, settings, campaign.id)
        profile = cProfile.Profile() if args.profile else None
        t0 = time.perf_counter()
        if profile:
            profile.enable()
        total = materialize(s, campaign.id)
        if profile:
            profile.disable()
        elapsed = time.perf_counter() - t0
    database = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    print(
        f"materialized {total:,} rows in {elapsed:.2f} s "
        f"({database}: {total / elapsed:,.0f} rows/s)"
    )
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
