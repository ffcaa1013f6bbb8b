"""`tidings org list --json` in its own process, on the test database (what a script sees)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from service.model import MailingList, SuppressionReason
from service.subscribers.suppression import suppress
from tests.integration.audience.conftest import run_import

TIDINGS = Path(sys.executable).with_name("tidings")


def test_org_list_json_is_the_contract(
    session: Session, members: MailingList, tmp_path: Path, test_env: dict[str, str]
) -> None:
    path = tmp_path / "会员.csv"
    path.write_text(
        "邮箱,单位名称\n"
        "a@example.org,大连数贸科技有限公司\n"
        "b@example.org,大连数贸科技有限公司\n"
        "c@example.org,大连数贸科技有限责任公司\n",
        encoding="utf-8",
    )
    run_import(session, path, members)
    suppress(session, "b@example.org", SuppressionReason.HARD_BOUNCE, "test")
    session.commit()
    proc = subprocess.run(
        [str(TIDINGS), "org", "list", "--json"],
        env={**os.environ, **test_env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert set(payload) == {"organisations"}
    items = payload["organisations"]
    assert all(set(o) == {"id", "name", "level", "contacts", "deliverable"} for o in items)
    counts = {o["name"]: (o["contacts"], o["deliverable"]) for o in items}
    assert counts == {"大连数贸科技有限公司": (2, 1), "大连数贸科技有限责任公司": (1, 1)}
