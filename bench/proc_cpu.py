"""CPU time of the processes a benchmark drives, read from /proc (Linux).

Shared by the benchmarks that account for the whole machine, not only their own process:
the import (its PostgreSQL backends) and the send (worker, sink, Redis, PostgreSQL).
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(stat: Path) -> tuple[str, list[str]] | None:
    try:
        head, _, rest = stat.read_text().rpartition(")")
    except OSError:  # the process ended meanwhile
        return None
    return head.partition("(")[2], rest.split()


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 once it has ended)."""
    found = _stat_fields(Path(f"/proc/{pid}/stat"))
    if found is None:
        return 0.0
    fields = found[1]
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_cpu_seconds() -> float:
    """utime + stime of every PostgreSQL process on this machine.

    Backends that start later count from zero, and the WAL writer and checkpointer work
    for whoever writes: take the difference around the work, on an otherwise idle server.
    """
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        found = _stat_fields(stat)
        if found is not None and found[0] == "postgres":
            total += int(found[1][11]) + int(found[1][12])
    return total / TICKS
