"""Run one fuzz target under atheris (coverage-guided, libFuzzer underneath).

    python -m tests.fuzz.run TARGET [libFuzzer options] [corpus directories]

With no corpus directory given, new inputs go to a temporary directory and the committed
seeds (``corpus/TARGET``) start the search; ``-max_total_time``, ``-rss_limit_mb``,
``-timeout`` and ``-max_len`` default to the values below unless given. A crash is
written where ``-artifact_prefix`` says (``crash-<sha1>``); copy it to
``crashes/TARGET/`` once fixed, and the replay test keeps it fixed.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile

import atheris

# Seconds per target unless TIDINGS_FUZZ_SECONDS says otherwise (CI: a few minutes in all).
DEFAULT_SECONDS = 15
# Memory and time per input: generous for the parsers, far below what a leak or a
# quadratic blow-up reaches (decompression bombs are capped elsewhere, issue 13 item 3).
RSS_LIMIT_MB = 2048
INPUT_TIMEOUT_SECONDS = 10


def _options(target: str, max_len: int, given: list[str]) -> list[str]:
    """libFuzzer's arguments: ours as defaults, the caller's own first."""
    from tests.fuzz.harnesses import CORPUS

    named = {arg.split("=", 1)[0] for arg in given if arg.startswith("-")}
    seconds = os.environ.get("TIDINGS_FUZZ_SECONDS", str(DEFAULT_SECONDS))
    defaults = {
        "-max_total_time": seconds,
        "-rss_limit_mb": str(RSS_LIMIT_MB),
        "-timeout": str(INPUT_TIMEOUT_SECONDS),
        "-max_len": str(max_len),
    }
    options = [f"{name}={value}" for name, value in defaults.items() if name not in named]
    dirs = [arg for arg in given if not arg.startswith("-")]
    if not dirs:  # new units go to the first directory: keep the committed seeds clean
        dirs = [tempfile.mkdtemp(prefix=f"tidings-fuzz-{target}-"), str(CORPUS / target)]
    flags = [arg for arg in given if arg.startswith("-")]
    return [sys.argv[0], *flags, *options, *dirs]


def main() -> None:
    """Instrument the service (and what it parses with), then fuzz the named target."""
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    target_name = sys.argv[1]
    # The parsers log what they survive (flufl.bounce's own failures): noise at fuzz speed.
    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports():
        # The parsers the service hands strangers' bytes to, imported lazily there.
        import csv  # noqa: F401
        import email.parser  # noqa: F401

        import mammoth  # noqa: F401
        import openpyxl  # noqa: F401

        from tests.fuzz.harnesses import TARGETS
    if target_name not in TARGETS:
        sys.exit(f"unknown target {target_name!r}; targets: {', '.join(TARGETS)}")
    target = TARGETS[target_name]
    atheris.Setup(_options(target_name, target.max_len, sys.argv[2:]), target.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
