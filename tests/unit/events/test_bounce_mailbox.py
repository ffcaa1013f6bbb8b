"""The IMAP bounce-mailbox poller, against a fake IMAP object (no IMAP server here).

The database and the bounce processing are real; only the IMAP connection is faked.
"""

from __future__ import annotations

from typing import Any

from service.accounts.settings_store import set_setting
from service.events.mailbox import MailboxConfig, masked_config, poll_configured_mailbox
from service.subscribers.suppression import is_suppressed
from tests.integration.events.events_factories import fill, make_campaign, make_delivery


class FakeImap:
    """Just the IMAPClient calls the poller makes, over an in-memory mailbox."""

    def __init__(self, messages: dict[int, bytes], move: bool = True) -> None:
        self.folders: dict[str, dict[int, bytes]] = {"INBOX": dict(messages)}
        self.selected = ""
        self.capabilities = {b"MOVE"} if move else {b"UIDPLUS"}
        self.logged_out = False
        self.expunged: list[int] = []

    def select_folder(self, name: str) -> None:
        self.selected = name

    def search(self, _criteria: Any) -> list[int]:
        return list(self.folders[self.selected])

    def list_folders(self, _directory: str, _pattern: str) -> list[tuple[Any, bytes, str]]:
        return [((b"\\Noselect",), b"/", "")]

    def folder_exists(self, name: str) -> bool:
        return name in self.folders

    def create_folder(self, name: str) -> None:
        self.folders[name] = {}

    def fetch(self, uids: list[int], _what: Any) -> dict[int, dict[bytes, bytes]]:
        return {u: {b"BODY[]": self.folders[self.selected][u], b"FLAGS": ()} for u in uids}

    def has_capability(self, name: str) -> bool:
        return name.encode() in self.capabilities

    def move(self, uids: list[int], folder: str) -> None:
        for u in uids:
            self.folders[folder][u] = self.folders[self.selected].pop(u)

    def copy(self, uids: list[int], folder: str) -> None:
        for u in uids:
            self.folders[folder][u] = self.folders[self.selected][u]

    def delete_messages(self, uids: list[int]) -> None:
        for u in uids:
            del self.folders[self.selected][u]

    def uid_expunge(self, uids: list[int]) -> None:
        self.expunged.extend(uids)

    def logout(self) -> None:
        self.logged_out = True


def _configure(session) -> None:
    set_setting(
        session,
        "bounce_mailbox",
        {
            "enabled": True,
            "host": "imap.example.org",
            "user": "bounces",
            "password": "pw",
            "processed_folder": "Done",
        },
    )


def test_a_poll_processes_new_bounces_and_moves_them_to_the_processed_folder(session, settings):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "alice@example.net")
    _configure(session)
    session.commit()
    bounce = fill("postfix_user_unknown.eml", settings, delivery, "alice@example.net")
    ooo = fill("ooo_english_auto_submitted.eml", settings, delivery, "jane@example.net")
    imap = FakeImap({1: bounce, 2: ooo})
    configs: list[MailboxConfig] = []

    def connector(config: MailboxConfig) -> FakeImap:
        configs.append(config)
        return imap

    assert poll_configured_mailbox(session, settings, connector) == 2
    assert is_suppressed(session, "alice@example.net")
    assert imap.folders["INBOX"] == {} and sorted(imap.folders["Done"]) == [1, 2]
    assert imap.logged_out and configs[0].port == 993 and configs[0].ssl


def test_without_move_support_messages_are_copied_then_deleted(session, settings):
    _configure(session)
    session.commit()
    imap = FakeImap({5: b"Subject: hello\r\n\r\nnot a bounce\r\n"}, move=False)
    assert poll_configured_mailbox(session, settings, lambda _c: imap) == 1
    assert imap.folders["INBOX"] == {} and list(imap.folders["Done"]) == [5]
    assert imap.expunged == [5]  # UID EXPUNGE of ours only (the server has UIDPLUS)


def test_no_configured_mailbox_means_no_connection(session, settings):
    def never(_config: MailboxConfig) -> FakeImap:
        raise AssertionError("must not connect")

    assert poll_configured_mailbox(session, settings, never) == 0


def test_the_mailbox_password_is_never_shown_back():
    assert masked_config({"user": "u", "password": "secret"}) == {
        "user": "u",
        "password": "********",
    }
