"""The bounce mailbox: an IMAP poller for deployments whose bounces land in a mailbox.

Configured in the settings store under "bounce_mailbox": ``{"enabled": true, "host",
"port", "ssl", "user", "password", "folder" (default INBOX), "processed_folder"
(default "Tidings/Processed")}``. The password is never shown back (`masked_config`).
Each poll reads the messages in the folder, processes each one exactly like a message
to the bounce server, and moves it to the processed folder; a message that fails stays
where it is (marked with a keyword counting its attempts) and is tried again next time,
until its third failure moves it to "Tidings/Failed" for a person to look at, so a few
bad messages never block the mailbox. Messages are read with BODY.PEEK (left unread).
Folder names take "/" between levels, whatever the server's own hierarchy delimiter is.

What the last poll did (or why it could not log in) is kept under "bounce_mailbox_status"
for ``tidings bounce-mailbox`` to show. With ``ssl`` the server's certificate is checked
against the machine's CA store (``SSL_CERT_FILE`` adds a private CA).
"""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting, set_setting
from service.config import Settings
from service.events.inbound import process_message
from service.model import utcnow

log = logging.getLogger(__name__)

SETTINGS_KEY = "bounce_mailbox"
STATUS_KEY = "bounce_mailbox_status"  # apart from the settings, so the two never race
DEFAULT_FOLDER = "INBOX"
DEFAULT_PROCESSED_FOLDER = "Tidings/Processed"
FAILED_FOLDER = "Tidings/Failed"
MAX_MESSAGES_PER_POLL = 200
MAX_ATTEMPTS = 3
ATTEMPT_FLAG = "$TidingsFailed"  # + the attempt number: an IMAP keyword on the message
IMAP_TIMEOUT_SECONDS = 30
SECRET_FIELDS = ("password",)


# The poll's own errors: the server refused us, the network or TLS failed, or an IMAP
# command was rejected. All are recorded and retried at the next poll; anything else
# (a database error) is a bug or an outage that must surface.
IMAP_ERRORS = (imaplib.IMAP4.error, OSError)


@dataclass(frozen=True)
class PollResult:
    """How many messages one poll moved to the processed folder and how many it left."""

    moved: int
    failed: int
    quarantined: int = 0


@dataclass(frozen=True)
class MailboxConfig:
    """Where the bounce mailbox is and how to log in."""

    host: str
    port: int
    ssl: bool
    user: str
    password: str
    folder: str = DEFAULT_FOLDER
    processed_folder: str = DEFAULT_PROCESSED_FOLDER


def load_config(session: Session) -> MailboxConfig | None:
    """The configured mailbox, or None when none is configured or it is disabled."""
    raw = get_setting(session, SETTINGS_KEY) or {}
    if not isinstance(raw, dict) or not raw.get("enabled") or not raw.get("host"):
        return None
    ssl = bool(raw.get("ssl", True))
    return MailboxConfig(
        host=str(raw["host"]),
        port=int(raw.get("port") or (993 if ssl else 143)),
        ssl=ssl,
        user=str(raw.get("user", "")),
        password=str(raw.get("password", "")),
        folder=str(raw.get("folder") or DEFAULT_FOLDER),
        processed_folder=str(raw.get("processed_folder") or DEFAULT_PROCESSED_FOLDER),
    )


def masked_config(value: dict[str, Any] | None) -> dict[str, Any]:
    """The stored configuration with secrets replaced, for pages and JSON output."""
    shown = dict(value or {})
    for name in SECRET_FIELDS:
        if shown.get(name):
            shown[name] = "********"
    return shown


def connect(config: MailboxConfig) -> Any:
    """A logged-in IMAPClient."""
    client = IMAPClient(config.host, port=config.port, ssl=config.ssl, timeout=IMAP_TIMEOUT_SECONDS)
    client.login(config.user, config.password)
    return client


def poll(session: Session, settings: Settings, config: MailboxConfig, client: Any) -> PollResult:
    """Process up to ``MAX_MESSAGES_PER_POLL`` messages and move those that were processed."""
    delimiter = _delimiter(client)
    client.select_folder(_server_name(config.folder, delimiter))
    # Not the ones marked deleted: a copy-then-delete cut short left them behind.
    uids = sorted(client.search(["NOT", "DELETED"]))[:MAX_MESSAGES_PER_POLL]
    if not uids:
        return PollResult(moved=0, failed=0)
    processed_folder = _server_name(config.processed_folder, delimiter)
    _ensure_folder(client, processed_folder)
    fetched = client.fetch(uids, [b"BODY.PEEK[]", b"FLAGS"])
    done: list[int] = []
    failed: list[int] = []
    for uid in uids:
        raw = fetched.get(uid, {}).get(b"BODY[]")
        if not isinstance(raw, bytes):
            continue
        try:
            with session.begin_nested():
                process_message(session, settings, raw)
        except Exception:  # one bad message must not stop the mailbox; it stays for later
            log.exception("bounce mailbox: message %s could not be processed", uid)
            failed.append(uid)
            continue
        done.append(uid)
    session.commit()  # commit before moving: a crash leaves messages to be read again
    if done:
        _move(client, done, processed_folder)
    given_up = _count_failures(client, failed, fetched)
    if given_up:
        failed_folder = _server_name(FAILED_FOLDER, delimiter)
        _ensure_folder(client, failed_folder)
        _move(client, given_up, failed_folder)
    return PollResult(
        moved=len(done), failed=len(failed) - len(given_up), quarantined=len(given_up)
    )


def _attempts(flags: Any) -> int:
    names = [f.decode() if isinstance(f, bytes) else str(f) for f in flags or ()]
    return sum(1 for name in names if name.startswith(ATTEMPT_FLAG))


def _count_failures(client: Any, uids: list[int], fetched: dict[int, Any]) -> list[int]:
    """Mark each failed message with its attempt number; return those out of attempts."""
    given_up = []
    for uid in uids:
        attempt = _attempts(fetched.get(uid, {}).get(b"FLAGS")) + 1
        if attempt >= MAX_ATTEMPTS:
            given_up.append(uid)
            continue
        try:
            client.add_flags([uid], [f"{ATTEMPT_FLAG}{attempt}".encode()])
        except IMAP_ERRORS as exc:  # a server without keywords: it is simply retried
            log.warning("bounce mailbox: cannot mark message %s: %s", uid, exc)
    return given_up


def _delimiter(client: Any) -> str | None:
    """The server's hierarchy delimiter: ``LIST "" ""`` answers with it (RFC 3501 6.3.8).

    None for a flat server. Dovecot with maildir uses ".", Gmail and Exchange "/".
    """
    listed = client.list_folders("", "")
    delimiter = listed[0][1] if listed else None
    if isinstance(delimiter, bytes):
        delimiter = delimiter.decode("ascii", "replace")
    return delimiter or None


def _server_name(name: str, delimiter: str | None) -> str:
    """A configured folder name ("/" between levels) as the server spells it.

    Dovecot's maildir layout refuses "/" in a name outright, so the default
    "Tidings/Processed" must become "Tidings.Processed" there.
    """
    return name.replace("/", delimiter) if delimiter else name


def _ensure_folder(client: Any, folder: str) -> None:
    if not client.folder_exists(folder):
        client.create_folder(folder)


def _move(client: Any, uids: list[int], folder: str) -> None:
    """MOVE when the server has it (RFC 6851), else COPY + mark deleted + UID EXPUNGE."""
    if client.has_capability("MOVE"):
        client.move(uids, folder)
        return
    client.copy(uids, folder)
    client.delete_messages(uids)
    # Only ours: a plain EXPUNGE would also erase what a person marked deleted. Without
    # UIDPLUS they stay marked (the next poll skips them) for the mail client to expunge.
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)


def poll_configured_mailbox(
    session: Session, settings: Settings, connector: Callable[[MailboxConfig], Any] = connect
) -> int:
    """One poll of the configured mailbox (the beat job); return how many messages moved.

    0 when none is configured. A login refused, an unreachable server or a certificate
    not trusted is logged and recorded under ``STATUS_KEY``, not raised: the admin
    sees it with ``tidings bounce-mailbox`` and the next poll tries again.
    """
    config = load_config(session)
    if config is None:
        return 0
    where = f"{config.host}:{config.port}"
    try:
        result = _poll_once(session, settings, config, connector)
    except LoginError as exc:
        return _record_failure(
            session, f"login to {where} as {config.user!r} refused: {_reason(exc)}"
        )
    except IMAP_ERRORS as exc:
        return _record_failure(session, f"{where}: {type(exc).__name__}: {_reason(exc)}")
    record_status(session, result, error=None)
    return result.moved


def _poll_once(
    session: Session,
    settings: Settings,
    config: MailboxConfig,
    connector: Callable[[MailboxConfig], Any],
) -> PollResult:
    client = connector(config)
    try:
        return poll(session, settings, config, client)
    finally:
        try:
            client.logout()
        except Exception:  # the server may have dropped us already; nothing left to do
            pass


def _reason(exc: BaseException) -> str:
    """The server's words: imaplib hands them over as bytes."""
    if isinstance(exc, LoginError) and isinstance(exc.__context__, imaplib.IMAP4.error):
        exc = exc.__context__  # imapclient re-raises str(bytes), which reads "b'...'"
    first = exc.args[0] if len(exc.args) == 1 else None
    if isinstance(first, bytes):
        return first.decode("utf-8", "replace")
    return str(exc)


def _record_failure(session: Session, error: str) -> int:
    log.error("bounce mailbox: %s", error)
    # What the poll committed before failing (processed messages) stays; anything
    # half-done since is dropped before the status is written.
    session.rollback()
    record_status(session, PollResult(moved=0, failed=0), error=error)
    return 0


def record_status(session: Session, result: PollResult, error: str | None) -> None:
    """Store what a poll did, and commit it (the poll commits as it goes, see `poll`)."""
    set_setting(
        session,
        STATUS_KEY,
        {
            "at": utcnow().isoformat(),
            "ok": error is None,
            "moved": result.moved,
            "failed": result.failed,
            "quarantined": result.quarantined,
            "error": error,
        },
    )
    session.commit()
