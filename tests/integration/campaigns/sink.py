"""A real SMTP sink (aiosmtpd) that counts what it accepts and misbehaves on request.

Behaviours, all switchable while it runs:
* ``busy_mail``: answer MAIL FROM with 421 (server closing) for the next N transactions;
* ``busy_rcpt``: answer RCPT TO with 451 for the next N recipients;
* ``drop_data``: close the connection in the middle of DATA (no reply) for recipients
  whose address matches, the first time each is seen — the client cannot know whether the
  message was kept (here it was not);
* ``reject``: answer 550 to these recipients;
* ``slow_data``: hold the reply to DATA this many seconds for these recipients (a slow
  relay: the message is kept, the client waits);
* ``replies``: answer RCPT TO for these recipients with the given reply (e.g.
  ``"550 5.7.26 unauthenticated sender"``);
* ``domain_replies``: answer RCPT TO for recipients at a domain with the given reply,
  ``domain_replies_left[domain]`` times (a provider's "slow down" that passes);
* ``Sink(refuse_login=True)``: offer AUTH and refuse every login (535 5.7.8);
* ``Sink(pipelining=True)``: offer PIPELINING (RFC 2920), as Postfix does; aiosmtpd reads
  commands sent together one by one and answers them in order;
* ``drop_clients()``: close every client connection from the sink's end, as a relay
  drops a quiet client.

Every RCPT answer and every accepted message is logged in ``log`` as ``(monotonic time,
recipient, client peer, "rcpt <code>" or "data")``.

Only messages answered 250 are counted (``received``: recipient → Message-IDs;
``mail_from``: recipient → the MAIL FROM addresses they came with).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope

from service.net import free_port

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.M | re.I)
DROP_TIMEOUT_SECONDS = 5.0


@dataclass
class SinkState:
    """What the sink does and what it received (guarded by ``lock``)."""

    busy_mail: int = 0
    busy_rcpt: int = 0
    drop_data: set[str] = field(default_factory=set)
    reject: set[str] = field(default_factory=set)
    slow_data: dict[str, float] = field(default_factory=dict)
    slowed: int = 0
    replies: dict[str, str] = field(default_factory=dict)
    domain_replies: dict[str, str] = field(default_factory=dict)
    domain_replies_left: dict[str, int] = field(default_factory=dict)
    log: list[tuple[float, str, Any, str]] = field(default_factory=list)
    logins: int = 0
    peers: set[Any] = field(default_factory=set)  # one (host, port) per client connection
    servers: list[Any] = field(default_factory=list)  # the SMTP session of each connection
    smtputf8: bool = True
    pipelining: bool = False
    received: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    mail_from: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    raw: dict[str, bytes] = field(default_factory=dict)
    keep_raw: bool = False
    refused_mail: int = 0
    refused_rcpt: int = 0
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def total(self) -> int:
        """Messages accepted."""
        with self.lock:
            return sum(len(v) for v in self.received.values())

    def counts(self) -> dict[str, int]:
        """Recipient → messages accepted."""
        with self.lock:
            return {k: len(v) for k, v in self.received.items()}


class SinkHandler:
    """aiosmtpd handler applying ``SinkState``."""

    def __init__(self, state: SinkState) -> None:
        self.state = state

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        if self.state.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.state.lock:
            if session.peer not in self.state.peers:
                self.state.servers.append(server)
            self.state.peers.add(session.peer)
            if self.state.busy_mail > 0:
                self.state.busy_mail -= 1
                self.state.refused_mail += 1
                return "421 4.3.2 too busy, come back later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.state.lock:
            reply = self._rcpt_reply(address)
            self.state.log.append((time.monotonic(), address, session.peer, f"rcpt {reply[:3]}"))
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    def _rcpt_reply(self, address: str) -> str:
        """The answer to RCPT TO ``address`` (called under the lock)."""
        domain = address.rpartition("@")[2].lower()
        if address in self.state.reject:
            return "550 5.1.1 no such user here"
        if address in self.state.replies:
            return self.state.replies[address]
        if self.state.domain_replies_left.get(domain, 0) > 0:
            self.state.domain_replies_left[domain] -= 1
            return self.state.domain_replies[domain]
        if self.state.busy_rcpt > 0:
            self.state.busy_rcpt -= 1
            self.state.refused_rcpt += 1
            return "451 4.7.1 greylisted, try again later"
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        with self.state.lock:
            if rcpt in self.state.drop_data:
                self.state.drop_data.discard(rcpt)
                self.state.dropped += 1
                drop = True
            else:
                drop = False
                match = _MESSAGE_ID.search(data)
                self.state.received[rcpt].append(match.group(1).decode() if match else "")
                self.state.mail_from[rcpt].append(envelope.mail_from or "")
                self.state.log.append((time.monotonic(), rcpt, session.peer, "data"))
                if self.state.keep_raw:
                    self.state.raw[rcpt] = data
            delay = self.state.slow_data.get(rcpt, 0.0)
            if delay:
                self.state.slowed += 1
        if delay:
            await asyncio.sleep(delay)
        if drop:
            assert server.transport is not None
            server.transport.abort()  # gone mid-DATA: the client never gets an answer
            return "421 connection lost"
        return "250 OK queued"


class Sink:
    """A running sink: ``port``, ``state``; ``stop()`` when done."""

    def __init__(
        self,
        smtputf8: bool = True,
        refuse_login: bool = False,
        hostname: str = "127.0.0.1",
        pipelining: bool = False,
    ) -> None:
        self.state = SinkState(smtputf8=smtputf8, pipelining=pipelining)
        self.port = free_port()
        self.hostname = hostname
        self.refuse_login = refuse_login
        auth: dict[str, Any] = (
            {"authenticator": self._refuse, "auth_require_tls": False} if refuse_login else {}
        )
        self.controller = Controller(
            SinkHandler(self.state),
            hostname=hostname,
            port=self.port,
            enable_SMTPUTF8=smtputf8,
            decode_data=False,
            ready_timeout=10,
            data_size_limit=50 * 1024 * 1024,
            **auth,
        )
        self.controller.start()

    def _refuse(self, *_args: Any) -> AuthResult:
        with self.state.lock:
            self.state.logins += 1
        return AuthResult(success=False, handled=False)

    @property
    def url(self) -> str:
        """The ``TIDINGS_SMTP_URL`` of this sink (with credentials when it wants a login)."""
        creds = "sender:wrong-password@" if self.refuse_login else ""
        return f"smtp://{creds}127.0.0.1:{self.port}"

    def drop_clients(self) -> None:
        """Close every client connection seen so far from this end (waits until done)."""
        with self.state.lock:
            servers, self.state.servers = self.state.servers, []
        closed = threading.Event()

        def close() -> None:
            for server in servers:
                if server.transport is not None:
                    server.transport.close()
            closed.set()

        self.controller.loop.call_soon_threadsafe(close)
        assert closed.wait(DROP_TIMEOUT_SECONDS), "the sink did not close its connections"

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()
