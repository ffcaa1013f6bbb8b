"""No entry point can run with part of the schema: a fresh interpreter that only opens a
``Database`` (what every command, the web, the worker, the beat and the bounce listener
do first) knows every table the migrations make.

The in-process tests import every model long before; a new process does not, and a
``tidings campaign add`` once died there on ``campaigns.created_by → users``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect

from service.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
FRESH_PROCESS = """
import json, sys
from service.db import Database
from service.model.base import Base
db = Database(sys.argv[1])
print(json.dumps(sorted(Base.metadata.tables)))
"""


def test_a_fresh_process_that_opens_the_database_knows_every_migrated_table(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    migrated = set(inspect(create_engine(url)).get_table_names()) - {"alembic_version"}
    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert set(json.loads(out)) == migrated
