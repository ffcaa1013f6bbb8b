"""A private PostgreSQL cluster for one test: ``initdb`` in a temporary directory, started
and stopped with ``pg_ctl`` on its own port, run as the ``postgres`` system user (the
server refuses to run as root). Trust authentication: it listens only where the test
puts it (inside a test namespace).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15", "14")]
USER = "postgres"
START_TIMEOUT_SECONDS = 60


def pg_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``, when a PostgreSQL server is installed."""
    return next((d for d in BIN_DIRS if (d / "pg_ctl").exists()), None)


@dataclass
class Cluster:
    """A cluster in ``directory`` listening on ``port`` at every address of its host."""

    bindir: Path
    directory: Path
    port: int

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            ["runuser", "-u", USER, "--", *args], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {done.stdout}{done.stderr}")

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.directory / "data"

    def init(self) -> None:
        """``initdb`` with trust authentication, reachable from the test's subnets."""
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust")
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 10.213.0.0/16 trust\n")

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=* -k {self.directory} -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            options,
            "-t",
            str(START_TIMEOUT_SECONDS),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop (``fast``: roll back open transactions and disconnect every client)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, host: str) -> str:
        """The URL of database ``tidings`` at ``host``."""
        return f"postgresql+psycopg://{USER}@{host}:{self.port}/tidings"

    def remove(self) -> None:
        """Stop it if it runs (immediately) and delete its files."""
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except RuntimeError:
                pass
        shutil.rmtree(self.directory, ignore_errors=True)


def new_cluster(port: int) -> Cluster:
    """An initialised cluster in a new temporary directory owned by ``postgres`` (not
    under pytest's tmp_path, which only root may enter). Raises ``RuntimeError`` when
    there is no server or no such user."""
    bindir = pg_bin()
    if bindir is None or shutil.which("runuser") is None:
        raise RuntimeError("no PostgreSQL server binaries (or no runuser) on this machine")
    directory = Path(tempfile.mkdtemp(prefix="tidings-pg-"))
    shutil.chown(directory, user=USER)
    os.chmod(directory, 0o700)
    cluster = Cluster(bindir, directory, port)
    try:
        cluster.init()
    except BaseException:
        cluster.remove()
        raise
    return cluster
