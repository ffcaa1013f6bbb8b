#!/usr/bin/env python3
"""The two commands of the README, for a fresh machine with only Python 3.11+:

    python3 dev.py up      # set up and start the whole service, demo loaded
    python3 dev.py test    # set up and run the whole test suite (lint and types included)

Both create ``.venv`` next to this file and install what they need into it; they reinstall
only when ``pyproject.toml`` changed. Extra arguments go to ``tidings up`` or to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
MIN_PYTHON = (3, 11)
PYTEST_NO_TESTS = 5


def say(message: str) -> None:
    """Print a progress line that stands out from tool output."""
    print(f"==> {message}", flush=True)


def ensure_venv() -> None:
    """Create the virtual environment once."""
    if PYTHON.exists():
        return
    say(f"creating {VENV}")
    try:
        venv.EnvBuilder(with_pip=True).create(VENV)
    except (OSError, subprocess.CalledProcessError) as exc:
        sys.exit(
            f"cannot create a virtual environment ({exc}); on Debian/Ubuntu install "
            "python3-venv first"
        )


def ensure_installed(extra: str | None) -> None:
    """Install the project (and ``extra``) unless the same pyproject is already installed."""
    target = f".[{extra}]" if extra else "."
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extra or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    say(
        f"installing Tidings{f' with {extra} tools' if extra else ''} into .venv (first run "
        "takes a minute or two)"
    )
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", target])
    stamp.write_text(digest)


def run(cmd: list[str], **kwargs: object) -> int:
    """Run a command in the repository; exit with its status if it fails."""
    code = subprocess.call(cmd, cwd=ROOT, **kwargs)  # type: ignore[arg-type]
    if code != 0:
        sys.exit(code)
    return code


def up(args: list[str]) -> int:
    """Start the whole service on the embedded defaults."""
    ensure_installed(None)
    os.chdir(ROOT)
    os.execv(str(BIN / "tidings"), [str(BIN / "tidings"), "up", *args])
    return 0  # not reached


def test(args: list[str]) -> int:
    """Lint, type-check, then run every test; a run that executes no test fails."""
    ensure_installed("test")
    say("ruff")
    linted = ["service", "worker", "tests", "bench", "tools", "dev.py"]
    run([str(BIN / "ruff"), "check", *linted])
    run([str(BIN / "ruff"), "format", "--check", *linted])
    say("mypy")
    run([str(BIN / "mypy"), "service", "worker"])
    say("pytest")
    code = subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT)
    if code == PYTEST_NO_TESTS:
        print("error: pytest collected no tests; that is a failure here", file=sys.stderr)
        return 1
    return code


COMMANDS = {"up": up, "test": test}


def main() -> int:
    """Dispatch ``up`` or ``test``."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"Tidings needs Python {'.'.join(map(str, MIN_PYTHON))} or newer")
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    ensure_venv()
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
