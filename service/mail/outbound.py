"""One outbound path for every message that is not part of a campaign batch.

The double opt-in confirmation, the "manage my subscription" link and any other single
message go out exactly as campaign mail does: DKIM-signed with the association's key,
through the relay pool (weights, failover, the kept connection), under the global and
per-domain throttle shared through Redis, and into the local capture when no relay is
set. Before, they were sent unsigned straight to ``TIDINGS_SMTP_URL``, bypassing all four.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import redis
from sqlalchemy.orm import Session

from service.config import Settings
from service.mail.backends import PermanentSendError, TransientSendError
from service.mail.from_address import UnsendableFrom, check_sendable
from service.mail.sending_config import get_sending_config, through_relay
from service.mail.throttle import Throttle
from service.mail.transport import checkin_transport, checkout_transport, relay_pool, sign

log = logging.getLogger(__name__)

# A throttle wait up to this long is slept through; a longer one retries the task later
# (a confirmation a few seconds late is fine, a worker held for a minute is not).
THROTTLE_SLEEP_SECONDS = 2.0
REDIS_TIMEOUT_SECONDS = 5.0


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )


def _wait_for_slot(throttle: Throttle, domain: str) -> None:
    """Take a throttle slot, sleeping briefly; raise ``TransientSendError`` to retry later."""
    try:
        wait = throttle.try_acquire(domain)
        if 0 < wait <= THROTTLE_SLEEP_SECONDS:
            time.sleep(wait)
            wait = throttle.try_acquire(domain)
    except (redis.RedisError, OSError) as exc:
        raise TransientSendError(f"the throttle (Redis) does not answer: {exc}") from exc
    if wait > 0:
        raise TransientSendError(f"throttled: {domain} limit reached; retry in {wait:.0f} s")


def send_message(
    session: Session,
    settings: Settings,
    mail_from: str,
    rcpt: str,
    data: bytes,
    client: redis.Redis | None = None,
) -> str:
    """Sign and send one message; return the relay's answer.

    Raises ``TransientSendError`` (retry later: throttled, Redis or every relay down, a 4xx)
    or ``PermanentSendError`` (refused for good, or a From no relay may carry).
    """
    config = get_sending_config(session)
    try:
        check_sendable(mail_from, through_relay(settings, config))
    except UnsendableFrom as exc:
        raise PermanentSendError(str(exc)) from exc
    throttle = Throttle.from_settings(
        client or _redis(settings.redis_url), config.global_rate, config.domain_limits
    )
    _wait_for_slot(throttle, rcpt.rpartition("@")[2])
    signed = sign(settings, data)
    transport = checkout_transport(relay_pool(settings, config))
    healthy = False
    try:
        answer = transport.send(mail_from, rcpt, signed)
        healthy = True
    except PermanentSendError:
        healthy = transport.backend is not None and transport.backend.connected
        raise
    finally:
        checkin_transport(transport, healthy)
    log.info("sent one message to %s: %s", rcpt.rpartition("@")[2], answer)
    return answer
