"""What strangers send, fuzzed: the saved inputs always, a fresh search when atheris is here.

The replay runs every seed of ``corpus/<target>/`` and every input that once crashed a
harness (``crashes/<target>/``) through the harness in-process: each must end in nothing
or in the domain's own error. The search runs each target under atheris in a subprocess
for ``TIDINGS_FUZZ_SECONDS`` (default ``run.DEFAULT_SECONDS``) with bounded memory and
time per input; a crash fails the test and names the input it wrote.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.harnesses import CORPUS, CRASHES, TARGETS
from tests.fuzz.run import DEFAULT_SECONDS

ROOT = Path(__file__).resolve().parents[2]
# Start-up (instrumenting the service's imports) and shutdown, on top of the fuzzing time.
SUBPROCESS_SLACK_SECONDS = 120
HAS_ATHERIS = importlib.util.find_spec("atheris") is not None


def _saved_inputs() -> list[tuple[str, Path]]:
    return [
        (name, path)
        for name in TARGETS
        for folder in (CORPUS / name, CRASHES / name)
        if folder.is_dir()
        for path in sorted(folder.iterdir())
        if path.is_file()
    ]


def test_every_target_has_a_seed_corpus():
    for name in TARGETS:
        assert any((CORPUS / name).iterdir()), f"corpus/{name} is empty"


@pytest.mark.parametrize(
    ("target", "path"), _saved_inputs(), ids=lambda v: v.name if isinstance(v, Path) else v
)
def test_a_saved_input_ends_in_nothing_or_the_domains_own_error(target, path):
    TARGETS[target].run(path.read_bytes())  # any other exception fails the test


@pytest.mark.slow
@pytest.mark.skipif(not HAS_ATHERIS, reason="atheris is not installed (no wheel for this Python)")
@pytest.mark.parametrize("target", list(TARGETS))
def test_a_coverage_guided_search_finds_no_crash(target, tmp_path):
    seconds = int(os.environ.get("TIDINGS_FUZZ_SECONDS", DEFAULT_SECONDS))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    found = tmp_path / "found"
    found.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.run",
            target,
            f"-max_total_time={seconds}",
            f"-artifact_prefix={tmp_path}/",
            str(found),
            str(CORPUS / target),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=seconds + SUBPROCESS_SLACK_SECONDS,
    )
    artifacts = sorted(p for p in tmp_path.iterdir() if p.is_file())
    assert result.returncode == 0 and not artifacts, (
        f"the fuzzer found a problem in {target}: {[str(p) for p in artifacts]}\n"
        f"fix it, then keep the input as tests/fuzz/crashes/{target}/<name>\n"
        + result.stderr[-4000:]
    )
