"""Child processes that stop with their parent: what ``tidings up`` and the bundled Redis
need to start parts and to stop them, their own children included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

STOP_GRACE_SECONDS = 15.0
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: ask Linux to SIGTERM it when ``tidings up`` dies, even by
    SIGKILL, so a killed supervisor never leaves a web server or worker behind.

    Runs between fork and exec, so it is called only while the supervisor has no other
    threads (the SMTP capture thread starts after the children).
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


SUPERVISOR_PID_VARIABLE = "TIDINGS_SUPERVISOR_PID"
PARENT_POLL_SECONDS = 1.0
# A part still running this long after its SIGTERM (its graceful stop hangs) is killed
# with its own children: a Celery worker was seen alive 30 s after the supervisor's
# SIGKILL, its warm shutdown waiting on the bundled Redis that had died with it.
ORPHAN_STOP_SECONDS = 10.0


def follow_supervisor() -> None:
    """In a part started by ``tidings up``: stop this process (SIGTERM, its own graceful
    shutdown) when the supervisor is gone, and kill it with its children when that stop
    has not ended within ``ORPHAN_STOP_SECONDS``.

    The kernel's parent-death signal does not reach every part (gunicorn's master was seen
    to miss it), so each part also watches its parent from a daemon thread.
    """
    expected = os.environ.get(SUPERVISOR_PID_VARIABLE)
    if not expected or not expected.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(expected):
            time.sleep(PARENT_POLL_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_STOP_SECONDS)  # a daemon thread: a stop that ends ends it too
        _kill_own_group()

    import threading

    threading.Thread(target=watch, name="follow-supervisor", daemon=True).start()


def _kill_own_group() -> None:
    # ``tidings up`` starts each part in its own session, so the group is this part and
    # its children (the pool processes); a process that leads no group kills only itself.
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the process's group, wait, then SIGKILL whatever is left of it."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # The leader may be gone while its own children (gunicorn or celery workers) linger.
    _signal_group(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
