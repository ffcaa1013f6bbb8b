"""The median of repeated timings, for the report benchmarks (coverage, domains)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from service.db import Database


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
