"""The kept connection: one SMTP connection (to one relay of the pool) per worker process,
reused batch after batch, and the DKIM signer every outgoing message passes.

Campaign batches and single transactional messages (``service.mail.outbound``) take their
connection from here, so both fail over between the same relays in the same way.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from service.config import Settings, parse_smtp_url
from service.mail.backends import MailBackend, PermanentSendError, TransientSendError
from service.mail.dkim_sign import DkimSigner
from service.mail.relays import RelayPool, probe_relay, relays_from_settings

log = logging.getLogger(__name__)

# DESIGN §5: a worker process keeps its relay connection between batches (no connect, TLS
# and login per batch). One idle longer than this is closed instead of reused: relays drop
# quiet clients, and a kept connection is NOOP-checked before reuse anyway.
POOL_IDLE_SECONDS = 30.0


class ExtraRelay(Protocol):
    """An extra relay of the sending settings."""

    @property
    def url(self) -> str:
        """``smtp://…`` or ``smtps://…``."""

    @property
    def weight(self) -> float:
        """Its share of the traffic."""


class RelaySettings(Protocol):
    """What the relay pool needs of the sending settings."""

    @property
    def relays(self) -> Sequence[ExtraRelay]:
        """The extra relays."""

    @property
    def primary_weight(self) -> float:
        """The share of TIDINGS_SMTP_URL (or the capture)."""


@lru_cache(maxsize=1)
def _signer_for(domain: str, selector: str, key_file: str) -> DkimSigner:
    return DkimSigner(domain, selector, Path(key_file).read_bytes())


@lru_cache(maxsize=2)
def _signer_from_pem(domain: str, selector: str, pem: str) -> DkimSigner:
    return DkimSigner(domain, selector, pem)


def signer_for(settings: Settings) -> DkimSigner | None:
    """The DKIM signer of the configured key (loaded once per process), or None.

    TIDINGS_DKIM_KEY_FILE first; else the key generated in the admin, when the settings
    came through ``effective_settings``.
    """
    if not settings.dkim_enabled or not settings.dkim_domain or not settings.dkim_selector:
        return None
    if settings.dkim_key_file is not None:
        return _signer_for(
            settings.dkim_domain, settings.dkim_selector, str(settings.dkim_key_file)
        )
    assert settings.dkim_key_pem is not None
    return _signer_from_pem(settings.dkim_domain, settings.dkim_selector, settings.dkim_key_pem)


def sign(settings: Settings, data: bytes) -> bytes:
    """``data`` DKIM-signed with the configured key (as it is when none is configured)."""
    signer = signer_for(settings)
    return signer.sign(data) if signer is not None else bytes(data)


class ConnectRefused(PermanentSendError):
    """The relay refused us for good while connecting (e.g. a login refused): no message
    of this batch can go out, and retrying each row would only repeat it."""


class Transport:
    """One connection (to one relay of the pool) reused for the whole batch."""

    def __init__(self, pool: RelayPool) -> None:
        self.pool = pool
        self.backend: MailBackend | None = None
        # Whether the last failure lost the connection (a transport failure, which the
        # error brake counts) rather than a refusal of one recipient (e.g. greylisting).
        self.lost = False

    def ensure(self) -> MailBackend:
        """An open connection; fails over to another relay when the current one is gone."""
        if self.backend is None or not self.backend.connected:
            self.close()
            try:
                self.backend, _ = self.pool.connect()
            except PermanentSendError as exc:
                raise ConnectRefused(str(exc), exc.code, exc.enhanced) from exc
        return self.backend

    def send(
        self,
        mail_from: str,
        rcpt: str,
        data: bytes,
        meanwhile: Callable[[], None] | None = None,
    ) -> str:
        """Send one message; a lost connection is dropped so the next one reconnects.

        ``meanwhile`` (which must not raise) runs while the relay reads the message, on a
        backend that can wait so (``MailBackend.send_overlapping``).
        """
        backend = self.ensure()
        self.lost = False
        try:
            return backend.send_overlapping(mail_from, rcpt, data, meanwhile)
        except TransientSendError:
            if not backend.connected:
                self.lost = True
                self.close()
            raise

    def close(self) -> None:
        """QUIT the current connection, if any."""
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.close()

    def alive(self) -> bool:
        """Whether there is a connection that still answers (backends without a check
        — the capture — always do)."""
        if self.backend is None:
            return False
        check = getattr(self.backend, "alive", None)
        return bool(check()) if callable(check) else True


# The per-process connection pool: at most one kept Transport per relay configuration,
# taken out while a batch uses it (so two threads never share one connection).
_kept: dict[tuple[object, ...], tuple[Transport, float]] = {}
_kept_lock = threading.Lock()


def checkout_transport(pool: RelayPool) -> Transport:
    """This process's kept connection for ``pool`` when it is fresh and alive, else a new
    (lazily connecting) one. Give it back with ``checkin_transport``."""
    now = time.monotonic()
    with _kept_lock:
        stale = [k for k, (_, used) in _kept.items() if now - used > POOL_IDLE_SECONDS]
        old = [_kept.pop(k)[0] for k in stale]
        entry = _kept.pop(pool.key, None)
    for transport in old:
        transport.close()
    if entry is not None:
        transport = entry[0]
        if transport.alive():
            return transport
        transport.close()
    return Transport(pool)


def checkin_transport(transport: Transport, healthy: bool) -> None:
    """Keep the connection for the next batch; after an error it is closed instead, so
    the next batch reconnects."""
    if not healthy or transport.backend is None:
        transport.close()
        return
    with _kept_lock:
        previous = _kept.pop(transport.pool.key, None)
        _kept[transport.pool.key] = (transport, time.monotonic())
    if previous is not None and previous[0] is not transport:
        previous[0].close()


def close_kept_connections() -> None:
    """QUIT every kept connection (at process exit, and between tests)."""
    with _kept_lock:
        kept = [t for t, _ in _kept.values()]
        _kept.clear()
    for transport in kept:
        try:
            transport.close()
        except Exception:  # noqa: BLE001 - best effort while shutting down
            log.debug("could not close a kept connection", exc_info=True)


atexit.register(close_kept_connections)


def relay_pool(settings: Settings, config: RelaySettings) -> RelayPool:
    """TIDINGS_SMTP_URL (or the capture) plus the extra relays of the sending settings."""
    extra = [(parse_smtp_url(r.url, "relay"), r.weight) for r in config.relays]
    relays = relays_from_settings(settings.smtp, config.primary_weight, extra)
    return RelayPool(relays, settings.data_dir / "outbox")


def try_relay(settings: Settings, config: RelaySettings, index: int, mail_from: str) -> str:
    """Ask relay ``index`` of the pool (0: TIDINGS_SMTP_URL or the capture, then the extra
    relays in order) whether it would take mail from ``mail_from``: connect, EHLO,
    STARTTLS and login as configured, MAIL FROM, RSET, QUIT. No message is sent.

    Returns the relay and its reply; raises ``SendError`` with the relay's refusal,
    ``LookupError`` for an index the pool does not have.
    """
    pool = relay_pool(settings, config)
    if not 0 <= index < len(pool.relays):
        raise LookupError(f"there is no relay {index}")
    return probe_relay(RelayPool([pool.relays[index]], pool.capture_dir, pool.factory), mail_from)
