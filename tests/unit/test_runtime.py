"""What a running service resolved (its port, Redis, capture) reaches commands run beside it,
and the admin notices when it is visited on another address than the links in mail use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from service import runtime
from service.config import load_settings
from service.web.admin import arrived_elsewhere


def test_an_unset_base_url_follows_the_running_service_and_an_explicit_one_wins(
    tmp_path: Path,
) -> None:
    runtime.publish(
        tmp_path,
        base_url="http://127.0.0.1:8101",
        redis_url="redis://127.0.0.1:40001/0",
        smtp_url="smtp://127.0.0.1:40002",
    )
    found = load_settings({"TIDINGS_DATA_DIR": str(tmp_path)})
    assert found.base_url == "http://127.0.0.1:8101" and not found.base_url_explicit
    assert found.redis_url == "redis://127.0.0.1:40001/0"
    assert found.smtp is not None and found.smtp.port == 40002 and found.smtp_capture
    given = load_settings(
        {"TIDINGS_DATA_DIR": str(tmp_path), "TIDINGS_BASE_URL": "https://news.example.org"}
    )
    assert given.base_url == "https://news.example.org" and given.base_url_explicit


def test_the_record_of_a_service_that_is_gone_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = tmp_path / runtime.RUNTIME_FILE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": int(dead.stdout), "base_url": "http://127.0.0.1:9"}))
    settings = load_settings({"TIDINGS_DATA_DIR": str(tmp_path)})
    assert settings.base_url == "http://127.0.0.1:8000"


def test_withdraw_removes_only_this_process_record(tmp_path: Path) -> None:
    runtime.publish(tmp_path, base_url="http://127.0.0.1:8101")
    runtime.withdraw(tmp_path)
    assert runtime.current(tmp_path) == {}
    assert not (tmp_path / runtime.RUNTIME_FILE).exists()


def test_a_wildcard_bind_is_reached_on_the_loopback_address() -> None:
    assert runtime.served_base_url("0.0.0.0", 8101) == "http://127.0.0.1:8101"
    assert runtime.served_base_url("::", 8101) == "http://[::1]:8101"
    assert runtime.served_base_url("10.0.0.5", 80) == "http://10.0.0.5:80"


def test_a_visit_on_another_host_or_port_than_the_base_url_is_noticed() -> None:
    base = "http://127.0.0.1:8101"
    assert arrived_elsewhere("http://127.0.0.1:8101/", base) is None
    assert arrived_elsewhere("http://localhost:8101/", base) == "http://localhost:8101"
    assert arrived_elsewhere("http://127.0.0.1:8000/", base) == "http://127.0.0.1:8000"
    assert arrived_elsewhere("https://news.example.org/", "https://news.example.org:443") is None
