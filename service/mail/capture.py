"""The local SMTP capture: a real SMTP server that keeps every message it receives.

A newcomer running ``tidings up`` without a relay sees, under "Outbox", exactly the mail
that would have gone out. Messages are files (``<ns-timestamp>-<random>.eml`` plus a small
JSON envelope), so the web, the worker and the capture need share nothing but a folder.
The folder also holds an index of the envelopes (``capture_index.py``) for the Outbox.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope

from service.mail.capture_index import CaptureIndex, OutboxPage, OutboxQuery, envelope_entry
from service.net import free_port

MESSAGE_ID_RE = re.compile(r"^\d{19}-[0-9a-f]{8}$")
# A campaign's mail says which campaign it is twice (personalise.py, message_ids.py):
# Feedback-ID ``c12:newsletter:tidings`` and Message-ID ``<c12.d3456.<hmac>@domain>``.
_FEEDBACK_CAMPAIGN_RE = re.compile(r"^\s*c(\d+):")
_MESSAGE_ID_CAMPAIGN_RE = re.compile(r"^\s*<c(\d+)\.d\d+\.")
# Big enough for any newsletter; a capture that filled the disk would help nobody.
MAX_MESSAGE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class CapturedSummary:
    """What the Outbox list shows of one message."""

    id: str
    received_at: float
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    size: int


class CaptureStore:
    """A folder of captured messages, newest first."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index = CaptureIndex(directory)

    def save(self, data: bytes, mail_from: str, rcpt_tos: list[str]) -> str:
        """Store one message and its envelope, index it, and return its id."""
        self.directory.mkdir(parents=True, exist_ok=True)
        msg_id = f"{time.time_ns():019d}-{secrets.token_hex(4)}"
        subject, campaign_id = _subject_and_campaign(data)
        meta = {
            "mail_from": mail_from,
            "rcpt_tos": rcpt_tos,
            "subject": subject,
            "size": len(data),
            "received_at": time.time(),
            "campaign_id": campaign_id,
        }
        # Write the message first and the envelope last under a temporary name, so a
        # reader never lists a half-written message.
        (self.directory / f"{msg_id}.eml").write_bytes(data)
        tmp = self.directory / f".{msg_id}.json.tmp"
        tmp.write_text(json.dumps(meta, ensure_ascii=False))
        os.replace(tmp, self.directory / f"{msg_id}.json")
        self.index().add([{"id": msg_id, **meta}])
        return msg_id

    def index(self) -> CaptureIndex:
        """The folder's index, rebuilt from the envelopes first if it is missing (a
        capture folder from before the index, or an index someone deleted)."""
        if self._index.open() and any(self.directory.glob("*.json")):
            self.reindex()
        return self._index

    def reindex(self) -> int:
        """Rebuild the index from the envelopes on disk; return how many it holds."""
        self._index.open()
        self._index.clear()
        ids = sorted(p.stem for p in self.directory.glob("*.json"))
        # Oldest first, so the index's order (seq) is the order they arrived in.
        self._index.add(envelope_entry(i, self._path(i, "json").read_text()) for i in ids)
        return len(ids)

    def ids(self) -> list[str]:
        """Every stored message id, newest first."""
        if not self.directory.is_dir():
            return []
        return self.index().ids()

    def count(self) -> int:
        """How many messages are stored."""
        return self.count_matching(OutboxQuery())[0]

    def count_matching(self, query: OutboxQuery) -> tuple[int, bool]:
        """How many messages match a filter, and whether that is only a lower bound."""
        if not self.directory.is_dir():
            return 0, False
        return self.index().count(query)

    def campaign_counts(self) -> dict[int, int]:
        """Messages per campaign id (``NO_CAMPAIGN`` for mail of no campaign)."""
        if not self.directory.is_dir():
            return {}
        return self.index().campaign_counts()

    def search(self, query: OutboxQuery) -> OutboxPage:
        """One page of the Outbox for a filter, newest first (see ``capture_index``)."""
        if not self.directory.is_dir():
            return OutboxPage(entries=[], newer=None, older=None)
        return self.index().page(query)

    def summary(self, msg_id: str) -> CapturedSummary:
        """The envelope and subject of one message."""
        meta: dict[str, Any] = json.loads(self._path(msg_id, "json").read_text())
        return CapturedSummary(
            id=msg_id,
            received_at=meta["received_at"],
            mail_from=meta["mail_from"],
            rcpt_tos=meta["rcpt_tos"],
            subject=meta["subject"],
            size=meta["size"],
        )

    def raw(self, msg_id: str) -> bytes:
        """The exact bytes received."""
        return self._path(msg_id, "eml").read_bytes()

    def message(self, msg_id: str) -> EmailMessage:
        """The message parsed with the modern policy."""
        msg = message_from_bytes(self.raw(msg_id), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    def clear(self) -> int:
        """Delete every stored message; return how many there were."""
        ids = self.ids()
        if self.directory.is_dir():
            self.index().clear()
        for msg_id in ids:
            for ext in ("json", "eml"):
                self._path(msg_id, ext).unlink(missing_ok=True)
        return len(ids)

    def _path(self, msg_id: str, ext: str) -> Path:
        # The id comes from a URL: accept only our own format, never a path.
        if not MESSAGE_ID_RE.match(msg_id):
            raise KeyError(msg_id)
        path = self.directory / f"{msg_id}.{ext}"
        if not path.exists():
            raise KeyError(msg_id)
        return path


def _subject_and_campaign(data: bytes) -> tuple[str, int | None]:
    """The decoded Subject and the campaign id a message carries (None if none)."""
    try:
        # Only the header block: a 60 KB newsletter need not be parsed to list it.
        head = BytesHeaderParser(policy=policy.default).parsebytes(data)
        subject = str(head.get("Subject", ""))
        feedback, message_id = str(head.get("Feedback-ID", "")), str(head.get("Message-ID", ""))
    except Exception:  # a broken message is still captured, just without a subject
        return "", None
    match = _FEEDBACK_CAMPAIGN_RE.match(feedback) or _MESSAGE_ID_CAMPAIGN_RE.match(message_id)
    return subject, int(match.group(1)) if match else None


class CaptureHandler:
    """aiosmtpd handler that writes each message to a ``CaptureStore``."""

    def __init__(self, store: CaptureStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Envelope) -> str:
        """Store the message; answer 250 with its id."""
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        msg_id = self.store.save(data, envelope.mail_from or "", list(envelope.rcpt_tos))
        return f"250 OK captured as {msg_id}"


def start_capture_server(
    store: CaptureStore, host: str = "127.0.0.1", port: int | None = None
) -> Controller:
    """Start the capture SMTP server in a thread; ``controller.port`` is where it listens."""
    port = port or free_port(host)
    controller = Controller(
        CaptureHandler(store),
        hostname=host,
        port=port,
        data_size_limit=MAX_MESSAGE_BYTES,
        enable_SMTPUTF8=True,
        decode_data=False,
        ready_timeout=10,
    )
    controller.start()
    return controller
