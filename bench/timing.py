"""What the report benchmarks (coverage, domains) share: their arguments, a fresh
migrated database, and the median of repeated timings."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.db import Database
from service.migrate import upgrade


def report_args(doc: str, sizes: dict[str, int]) -> argparse.Namespace:
    """The command line: ``--NAME N`` for each of ``sizes`` (its default), then
    ``--database-url``; the description is the first line of ``doc``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in sizes.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--database-url", default=None)
    return parser.parse_args()


@contextmanager
def bench_database(name: str, url: str | None) -> Iterator[tuple[Database, str]]:
    """A migrated database and its URL: ``url``, else a SQLite file ``name``.db in a
    temporary folder that goes away afterwards; its connections are closed at the end."""
    with tempfile.TemporaryDirectory() as work:
        url = url or f"sqlite:///{Path(work) / f'{name}.db'}"
        upgrade(url)
        db = Database(url)
        try:
            yield db, url
        finally:
            db.dispose()


def median_ms(db: Database, run: Callable[[Any], Any], rounds: int) -> tuple[float, Any]:
    """The median wall time in ms of ``run(session)`` over ``rounds`` fresh sessions, and
    the last run's result (each round gets its own session: nothing cached between)."""
    times, result = [], None
    for _ in range(rounds):
        with db.session() as s:
            start = time.perf_counter()
            result = run(s)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result
