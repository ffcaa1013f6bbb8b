"""The inbound bounce SMTP server (``tidings bounces``): aiosmtpd on the VERP domain.

It accepts mail only for valid VERP addresses of our bounce domain (the HMAC is checked
at RCPT, so forged or unknown addresses get 550 before any data is sent), from any sender
including the null sender ``<>`` that DSNs use (RFC 3464 §2). Each message is written
to disk first (``service.events.inbound.store_raw``) and only then announced to the
``events`` queue, so a Redis hiccup loses nothing: the sweep re-queues stored files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope

from service.config import Settings
from service.events.inbound import store_raw
from service.events.mailto_unsubscribe import is_unsubscribe_address
from service.mail.verp import parse_verp
from service.net import free_port

log = logging.getLogger(__name__)

# Bounces are small; a returned newsletter with its body is well under this.
MAX_BOUNCE_BYTES = 10 * 1024 * 1024
READY_TIMEOUT_SECONDS = 10

Enqueue = Callable[[Path], None]


class BounceHandler:
    """aiosmtpd handler: VERP check at RCPT, store then enqueue at DATA."""

    def __init__(self, settings: Settings, enqueue: Enqueue) -> None:
        self.settings = settings
        self.secret = settings.secret_key.encode()
        self.enqueue = enqueue

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept only addresses whose VERP HMAC verifies, and our unsubscribe mailbox."""
        if parse_verp(
            address, self.secret, self.settings.bounce_domain
        ) is None and not is_unsubscribe_address(address, self.settings):
            log.info("bounce server: refused RCPT %s", address)
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Envelope) -> str:
        """Store the message, then hand it to the queue; never lose it."""
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            path = store_raw(self.settings, data, list(envelope.rcpt_tos))
        except OSError:
            log.exception("bounce server: could not store a message")
            return "451 4.3.0 Temporary storage problem, try again later"
        try:
            self.enqueue(path)
        except Exception:  # Redis away: the file is safe, the sweep will queue it
            log.warning("bounce server: could not enqueue %s; the sweep will", path.name)
        return "250 OK"


def start_bounce_server(
    settings: Settings,
    enqueue: Enqueue,
    host: str = "127.0.0.1",
    port: int | None = None,
) -> Controller:
    """Start the bounce SMTP server in a thread; ``controller.port`` is where it listens.

    ``enqueue(path)`` hands each stored message on (``tidings bounces`` gives the Celery
    task; a stored message is never lost if it fails, the sweep queues it later).

    ``controller.stop()`` stops it (``tidings up`` keeps the controller for that).
    """
    port = port or free_port(host)
    controller = Controller(
        BounceHandler(settings, enqueue),
        hostname=host,
        port=port,
        data_size_limit=MAX_BOUNCE_BYTES,
        enable_SMTPUTF8=True,  # RFC 6533 global DSNs come back over SMTPUTF8
        decode_data=False,
        ready_timeout=READY_TIMEOUT_SECONDS,
    )
    controller.start()
    controller.port = port
    return controller
