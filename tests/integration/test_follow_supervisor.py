"""A part of ``tidings up`` whose graceful stop hangs after its supervisor died is killed
with its children (``service.processes.follow_supervisor``), over real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

# The part: follows its supervisor, ignores SIGTERM (a warm shutdown that never ends) and
# has a child of its own, as a Celery worker has its pool.
PART = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    import service.processes as processes
    processes.PARENT_POLL_SECONDS = 0.1
    processes.ORPHAN_STOP_SECONDS = 1.0
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    print(child.pid, flush=True)
    processes.follow_supervisor()
    time.sleep(120)
    """
)

# The supervisor: starts the part in its own session, as ``tidings up`` does, says the
# part's pid and waits to be killed.
SUPERVISOR = textwrap.dedent(
    """
    import os, subprocess, sys, time
    env = {**os.environ, "TIDINGS_SUPERVISOR_PID": str(os.getpid())}
    part = subprocess.Popen(
        [sys.executable, "-c", sys.argv[1]], env=env, start_new_session=True,
        stdout=subprocess.PIPE, text=True,
    )
    child = part.stdout.readline().strip()
    print(part.pid, child, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="getppid after reparenting")
def test_a_part_whose_stop_hangs_is_killed_with_its_children() -> None:
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, PART],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert supervisor.stdout is not None
    part_pid, child_pid = (int(x) for x in supervisor.stdout.readline().split())
    part, child = psutil.Process(part_pid), psutil.Process(child_pid)
    try:
        started = time.monotonic()
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(timeout=10)
        time.sleep(0.5)
        assert part.is_running(), "SIGTERM is ignored: the part must outlive it at first"
        gone, alive = psutil.wait_procs([part, child], timeout=10)
        assert not alive, f"left behind: {[p.pid for p in alive]}"
        assert time.monotonic() - started < 8
    finally:
        for p in (part, child):
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
