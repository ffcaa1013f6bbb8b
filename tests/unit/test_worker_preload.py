"""The worker imports, before it forks its pool, every module its tasks import when they
run (``worker.app.PRELOAD_MODULES``): a module missing from the list would be imported
again by each pool process on its first task."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_inside_functions(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.ImportFrom)
                    and inner.module
                    and inner.module.startswith("service.")
                ):
                    names.add(inner.module)
    return names


def test_every_module_a_task_imports_when_it_runs_is_preloaded() -> None:
    from worker.app import PRELOAD_MODULES

    wanted = set()
    for path in sorted(ROOT.glob("worker/tasks*.py")):
        wanted |= _imported_inside_functions(path)
    assert "service.campaigns.sender" in wanted  # the reader finds the send task's import
    assert sorted(wanted - set(PRELOAD_MODULES)) == []


def test_the_worker_app_alone_leaves_the_sending_stack_out_and_the_preload_brings_it() -> None:
    # In a fresh process: the web imports worker.app to enqueue and must not pay for it.
    code = (
        "import sys, worker.app as w\n"
        "heavy = {'service.campaigns.sender', 'service.issues.render_email'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
        "w._preload()\n"
        "assert heavy <= set(sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
