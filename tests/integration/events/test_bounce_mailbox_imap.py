"""The bounce-mailbox poller against a real IMAP server (a private Dovecot).

Bounces from the corpus, made for deliveries in the database, are APPENDed to the
mailbox over IMAP; the mailbox is configured with ``tidings bounce-mailbox`` as an admin
would; the poll is the beat job's own function (and, once, the beat task in a real
Celery worker).
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting
from service.cli import main
from service.config import Settings
from service.events import mailbox
from service.events.mailbox import STATUS_KEY, poll_configured_mailbox
from service.model import Delivery, Event
from service.subscribers.suppression import is_suppressed
from tests.dovecot import NO_MOVE_USER, ImapServer
from tests.integration.events.conftest import imap_login
from tests.integration.events.events_factories import fill, make_campaign, make_delivery

# Dovecot's maildir layout separates levels with "."; the default "Tidings/Processed"
# must land there as a nested folder, not be refused for its "/".
PROCESSED = "Tidings.Processed"
JUNK = b"From: someone@example.com\r\nSubject: hello\r\n\r\nNot a bounce at all.\r\n"
WORKER_WAIT_SECONDS = 60


def configure(server: ImapServer, *options: str) -> dict[str, Any]:
    """Set the bounce mailbox with ``tidings bounce-mailbox`` (plain IMAP unless told)."""
    args = ["bounce-mailbox", "--host", server.host, "--port", str(server.port), "--no-ssl"]
    args += ["--user", server.user, "--password", server.password, "--enable", *options]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.output)
    return shown


def append(server: ImapServer, *messages: bytes, user: str | None = None) -> None:
    """Deliver messages to the INBOX the way a mail client stores them: IMAP APPEND."""
    with imap_login(server, user) as client:
        for raw in messages:
            client.append("INBOX", raw)


def messages_in(server: ImapServer, folder: str, user: str | None = None) -> list[bytes]:
    """The raw messages of ``folder`` a mail client shows (none when it does not exist):
    not those marked deleted, which a server without UIDPLUS keeps until expunged."""
    with imap_login(server, user) as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        fetched = client.fetch(client.search(["NOT", "DELETED"]), [b"BODY.PEEK[]"])
        return [data[b"BODY[]"] for _uid, data in sorted(fetched.items())]


def bounce_events(session: Session, delivery: Delivery) -> int:
    """How many bounce events the delivery has."""
    session.expire_all()
    return (
        session.scalar(
            select(func.count(Event.id)).where(
                Event.delivery_id == delivery.id, Event.type.like("bounce%")
            )
        )
        or 0
    )


def last_poll(session: Session) -> dict[str, Any]:
    """What the poller recorded about its last poll."""
    session.expire_all()
    status: dict[str, Any] = get_setting(session, STATUS_KEY)
    return status


def test_a_poll_records_bounces_and_moves_every_message_to_the_processed_folder(
    session: Session, settings: Settings, imap: ImapServer
) -> None:
    campaign = make_campaign(session)
    alice = make_delivery(session, campaign, "alice@example.net")
    jane = make_delivery(session, campaign, "jane@example.net")
    session.commit()
    configure(imap)  # the default processed folder, "Tidings/Processed"
    hard = fill("postfix_user_unknown.eml", settings, alice, "alice@example.net")
    ooo = fill("ooo_english_auto_submitted.eml", settings, jane, "jane@example.net")
    append(imap, hard, ooo, JUNK)

    assert poll_configured_mailbox(session, settings) == 3

    session.expire_all()
    assert session.get(Delivery, alice.id).status == "bounced_hard"
    assert is_suppressed(session, "alice@example.net")
    assert session.get(Delivery, jane.id).status == "sent"  # an auto-reply is no bounce
    assert not is_suppressed(session, "jane@example.net")
    assert messages_in(imap, "INBOX") == []
    assert messages_in(imap, PROCESSED) == [hard, ooo, JUNK]
    status = last_poll(session)
    assert status["ok"] and status["moved"] == 3 and status["failed"] == 0
    assert status["error"] is None


def test_a_bounce_read_twice_is_counted_once(
    session: Session, settings: Settings, imap: ImapServer
) -> None:
    campaign = make_campaign(session)
    grace = make_delivery(session, campaign, "grace@gmail.com")
    session.commit()
    configure(imap)
    soft = fill("gmail_mailbox_full_5_2_2.eml", settings, grace, "grace@gmail.com")
    append(imap, soft)
    assert poll_configured_mailbox(session, settings) == 1
    assert bounce_events(session, grace) == 1

    assert poll_configured_mailbox(session, settings) == 0  # nothing new: nothing read
    # The same message once more, as after a crash between the commit and the move.
    append(imap, soft)
    assert poll_configured_mailbox(session, settings) == 1
    assert bounce_events(session, grace) == 1
    assert session.get(Delivery, grace.id).status == "bounced_soft"
    assert len(messages_in(imap, PROCESSED)) == 2


def test_a_message_that_fails_stays_in_the_inbox_and_is_processed_next_poll(
    session: Session, settings: Settings, imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(session)
    alice = make_delivery(session, campaign, "alice@example.net")
    dave = make_delivery(session, campaign, "dave@example.net")
    session.commit()
    configure(imap)
    first = fill("postfix_user_unknown.eml", settings, alice, "alice@example.net")
    failing = fill("exim_user_unknown.eml", settings, dave, "dave@example.net")
    append(imap, first, failing)
    # No real message makes the processing fail on demand (the parser takes anything),
    # so the failure is injected once; the retry runs the real processing.
    real = mailbox.process_message
    calls: list[bytes] = []

    def fails_once(session: Session, settings: Settings, raw: bytes) -> Any:
        calls.append(raw)
        if raw == failing and calls.count(raw) == 1:
            raise RuntimeError("database went away mid-message")
        return real(session, settings, raw)

    monkeypatch.setattr(mailbox, "process_message", fails_once)

    assert poll_configured_mailbox(session, settings) == 1
    assert messages_in(imap, "INBOX") == [failing]
    assert messages_in(imap, PROCESSED) == [first]
    session.expire_all()
    assert session.get(Delivery, alice.id).status == "bounced_hard"
    assert session.get(Delivery, dave.id).status == "sent"  # its savepoint rolled back
    status = last_poll(session)
    assert status["ok"] and status["moved"] == 1 and status["failed"] == 1

    assert poll_configured_mailbox(session, settings) == 1
    assert messages_in(imap, "INBOX") == []
    session.expire_all()
    assert session.get(Delivery, dave.id).status == "bounced_hard"
    assert bounce_events(session, alice) == 1 and bounce_events(session, dave) == 1
    assert last_poll(session)["failed"] == 0


def test_a_server_without_move_gets_copy_then_delete(
    session: Session, settings: Settings, imap: ImapServer
) -> None:
    with imap_login(imap, NO_MOVE_USER) as client:
        assert not client.has_capability("MOVE")
    configure(imap, "--user", NO_MOVE_USER, "--processed-folder", "Done")
    append(imap, JUNK, user=NO_MOVE_USER)

    assert poll_configured_mailbox(session, settings) == 1
    assert messages_in(imap, "INBOX", NO_MOVE_USER) == []
    assert messages_in(imap, "Done", NO_MOVE_USER) == [JUNK]


def test_copy_then_delete_leaves_what_a_person_marked_deleted(
    session: Session, settings: Settings, imap: ImapServer
) -> None:
    configure(imap, "--user", NO_MOVE_USER, "--processed-folder", "Done")
    person = b"From: staff@example.org\r\nSubject: keep?\r\n\r\nmarked by a person\r\n"
    append(imap, person, JUNK, user=NO_MOVE_USER)
    with imap_login(imap, NO_MOVE_USER) as client:
        client.select_folder("INBOX")
        first = sorted(client.search(["ALL"]))[0]
        client.add_flags([first], [b"\\Deleted"])  # marked, not yet expunged

    assert poll_configured_mailbox(session, settings) == 1  # the marked one is not read
    assert messages_in(imap, "Done", NO_MOVE_USER) == [JUNK]
    # This server has no UIDPLUS, so no UID EXPUNGE: a plain EXPUNGE would have erased the
    # person's message too; both stay in the folder, marked deleted, for the client.
    with imap_login(imap, NO_MOVE_USER) as client:
        client.select_folder("INBOX", readonly=True)
        assert len(client.search(["DELETED"])) == 2


def test_a_message_that_keeps_failing_is_set_aside_and_unblocks_the_mailbox(
    session: Session, settings: Settings, imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(imap)
    append(imap, JUNK)
    real = mailbox.process_message

    def always_fails_on_junk(session: Session, settings: Settings, raw: bytes) -> Any:
        if raw == JUNK:
            raise RuntimeError("cannot be processed, ever")
        return real(session, settings, raw)

    monkeypatch.setattr(mailbox, "process_message", always_fails_on_junk)
    for attempt in range(1, mailbox.MAX_ATTEMPTS):
        assert poll_configured_mailbox(session, settings) == 0
        assert messages_in(imap, "INBOX") == [JUNK]
        assert last_poll(session)["failed"] == 1, attempt
    with imap_login(imap) as client:  # read with BODY.PEEK: still unread for a person
        client.select_folder("INBOX", readonly=True)
        flags = next(iter(client.get_flags(client.search(["ALL"])).values()))
        assert b"\\Seen" not in flags
    assert poll_configured_mailbox(session, settings) == 0
    assert messages_in(imap, "INBOX") == []
    assert messages_in(imap, "Tidings.Failed") == [JUNK]
    status = last_poll(session)
    assert status["quarantined"] == 1 and status["failed"] == 0


def test_imaps_works_with_a_certificate_the_machine_trusts(
    session: Session, settings: Settings, imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How an operator trusts a private CA: OpenSSL's SSL_CERT_FILE (read per connection).
    monkeypatch.setenv("SSL_CERT_FILE", str(imap.ca_file))
    shown = configure(imap, "--ssl", "--port", str(imap.ssl_port))
    assert shown["ssl"] is True
    append(imap, JUNK)

    assert poll_configured_mailbox(session, settings) == 1
    assert messages_in(imap, PROCESSED) == [JUNK]


def test_an_untrusted_certificate_is_refused_and_recorded(
    session: Session, settings: Settings, imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    configure(imap, "--ssl", "--port", str(imap.ssl_port))
    append(imap, JUNK)

    assert poll_configured_mailbox(session, settings) == 0
    status = last_poll(session)
    assert status["error"].startswith(f"{imap.host}:{imap.ssl_port}: SSLCertVerificationError")
    assert not status["ok"] and "certificate verify failed" in status["error"]
    assert messages_in(imap, "INBOX") == [JUNK]


def test_a_wrong_password_is_recorded_and_shown_not_raised(
    session: Session, settings: Settings, imap: ImapServer, caplog: pytest.LogCaptureFixture
) -> None:
    configure(imap, "--password", "not-the-password")
    append(imap, JUNK)

    with caplog.at_level(logging.ERROR, logger=mailbox.__name__):
        assert poll_configured_mailbox(session, settings) == 0
    status = last_poll(session)
    assert not status["ok"] and status["moved"] == 0
    assert f"login to {imap.host}:{imap.port} as '{imap.user}' refused" in status["error"]
    assert status["error"].endswith("refused: [AUTHENTICATIONFAILED] Authentication failed.")
    assert status["error"] in caplog.text
    assert messages_in(imap, "INBOX") == [JUNK]
    # The admin sees it where they set the mailbox up; the password stays hidden.
    result = CliRunner().invoke(main, ["bounce-mailbox", "--json"])
    shown = json.loads(result.output)
    assert shown["last_poll"]["error"] == status["error"]
    assert "not-the-password" not in result.output


def test_the_beat_job_polls_the_mailbox_in_a_real_worker(
    session: Session,
    settings: Settings,
    imap: ImapServer,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    from worker.app import celery
    from worker.tasks_events import BEAT

    campaign = make_campaign(session)
    erin = make_delivery(session, campaign, "erin@contoso.com")
    session.commit()
    configure(imap)
    append(imap, fill("exchange_o365_recipient_not_found.eml", settings, erin, "erin@contoso.com"))

    celery.send_task(BEAT["events-poll-mailbox"]["task"])  # what beat sends every 2 min

    deadline = time.monotonic() + WORKER_WAIT_SECONDS
    while time.monotonic() < deadline and get_setting(session, STATUS_KEY) is None:
        time.sleep(0.3)
        session.expire_all()
    log = celery_worker.log_path.read_text()[-3000:]  # type: ignore[attr-defined]
    status = last_poll(session)
    assert status is not None and status["moved"] == 1, log
    assert session.get(Delivery, erin.id).status == "bounced_hard", log
    assert messages_in(imap, "INBOX") == []
