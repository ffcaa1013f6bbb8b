"""Fixtures of the events tests: a private Dovecot for the IMAP bounce mailbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from imapclient import IMAPClient

from tests.dovecot import NO_MOVE_USER, ImapServer, require_dovecot, start_dovecot, stop_dovecot


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    """A private Dovecot (plain IMAP and IMAPS on free ports) for the whole session."""
    require_dovecot()
    proc, server, root = start_dovecot()
    yield server
    stop_dovecot(proc, root)


def imap_login(server: ImapServer, user: str | None = None) -> IMAPClient:
    """A logged-in plain-IMAP client of the test server (the test's own, not the poller's)."""
    client = IMAPClient(server.host, port=server.port, ssl=False, timeout=10)
    client.login(user or server.user, server.password)
    return client


@pytest.fixture
def imap(imap_server: ImapServer) -> ImapServer:
    """The test server with every test mailbox emptied: only an empty INBOX is left."""
    for user in (imap_server.user, NO_MOVE_USER):
        with imap_login(imap_server, user) as client:
            # Children first; a parent that only holds them ("Tidings") is no folder.
            for flags, _delimiter, name in sorted(client.list_folders(), reverse=True):
                if name != "INBOX" and b"\\Noselect" not in flags:
                    client.delete_folder(name)
            client.select_folder("INBOX")
            client.delete_messages(client.search(["ALL"]))
            client.expunge()
    return imap_server


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """On a failure, show the end of Dovecot's log under the test's report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    server = getattr(item, "funcargs", {}).get("imap_server")
    if report.failed and isinstance(server, ImapServer):
        report.sections.append(("dovecot log", server.log_tail()))
