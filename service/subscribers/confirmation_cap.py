"""The hourly cap on confirmation mails, per client address and in total, kept in Redis.

A confirmation mail goes to whatever address someone typed into a public form. It
carries nothing of theirs (see ``confirmation``), but a flood of them is still mail
nobody asked for, sent in the association's name, and it costs the sender reputation the
journal depends on. So each clock hour lets at most ``CONFIRMATIONS_PER_IP_PER_HOUR``
through per client address and ``CONFIRMATIONS_PER_HOUR`` in total; a sign-up over the
cap stays unconfirmed without a mail, and the reader is asked to try again later.

The counters live in Redis, so every web process on every machine shares them; the
admin dashboard shows what went through and what was held back this hour. When Redis
does not answer, nothing goes through: the mail could not be queued anyway (the broker
is the same Redis), and a page that promised it would mislead the reader.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)

CONFIRMATIONS_PER_HOUR = 100
# One machine cannot use up the total; an office behind one address (colleagues signing
# up together after a meeting) still gets a few through each hour.
CONFIRMATIONS_PER_IP_PER_HOUR = 5
WINDOW_SECONDS = 3600
# Keys outlive their hour a little, so the dashboard can still read a just-ended hour.
KEY_TTL_SECONDS = 2 * WINDOW_SECONDS
KEY_PART = "confirm-cap"

# KEYS: total, this IP, held back.  ARGV: total cap, IP cap, TTL, "take" or "peek".
# Returns 1 when there is room (and, for "take", the slot is taken), 0 when over the cap
# (and, for "take", the held-back mail is counted). One script: two web processes cannot
# both take the last slot.
_SCRIPT = """
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local ip = tonumber(redis.call('GET', KEYS[2]) or '0')
local take = ARGV[4] == 'take'
if total >= tonumber(ARGV[1]) or ip >= tonumber(ARGV[2]) then
  if take then
    redis.call('INCR', KEYS[3])
    redis.call('EXPIRE', KEYS[3], ARGV[3])
  end
  return 0
end
if take then
  redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return 1
"""


@dataclass(frozen=True)
class CapCounts:
    """This hour's confirmation mails: let through, held back, and the caps."""

    sent: int
    held_back: int
    per_hour: int
    per_ip: int


class ConfirmationCap:
    """Per-IP and total hourly counters of confirmation mails under one key prefix (the
    installation's, so two installations sharing a Redis keep apart counts)."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        per_hour: int = CONFIRMATIONS_PER_HOUR,
        per_ip: int = CONFIRMATIONS_PER_IP_PER_HOUR,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.prefix = f"{prefix}:{KEY_PART}"
        self.per_hour = per_hour
        self.per_ip = per_ip
        self.clock = clock
        self._script = client.register_script(_SCRIPT)

    def take(self, ip: str | None) -> bool:
        """Take a slot for one confirmation mail from ``ip``; False when the hour is full
        for that address or in total (the held-back mail is counted), or Redis is down."""
        return self._run(ip, "take")

    def has_room(self, ip: str | None) -> bool:
        """Whether ``take`` would succeed now, taking nothing (for an answer that must
        look like the one a sign-up with a mail gets)."""
        return self._run(ip, "peek")

    def counts(self) -> CapCounts | None:
        """This hour's counts (None when Redis does not answer)."""
        try:
            sent, held = self.client.mget([self._key("total"), self._key("held")])
        except (redis.RedisError, OSError):
            return None
        return CapCounts(int(sent or 0), int(held or 0), self.per_hour, self.per_ip)

    def seconds_left(self) -> int:
        """Seconds until the counters start again (the next clock hour)."""
        return WINDOW_SECONDS - int(self.clock()) % WINDOW_SECONDS

    def clear(self) -> None:
        """Forget every count of this installation (tests; an operator after an incident)."""
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*"))
        if keys:
            self.client.delete(*keys)

    def _run(self, ip: str | None, mode: str) -> bool:
        keys = [self._key("total"), self._key("ip:" + _ip_part(ip)), self._key("held")]
        args = [self.per_hour, self.per_ip, KEY_TTL_SECONDS, mode]
        try:
            return bool(self._script(keys=keys, args=args))
        except (redis.RedisError, OSError):
            log.warning("confirmation cap: Redis does not answer; no confirmation mail goes out")
            return False

    def _key(self, name: str) -> str:
        hour = int(self.clock()) // WINDOW_SECONDS
        return f"{self.prefix}:{hour}:{name}"


def _ip_part(ip: str | None) -> str:
    # Hashed: no client addresses lie around in Redis.
    return hashlib.sha256((ip or "unknown").encode()).hexdigest()[:16]
