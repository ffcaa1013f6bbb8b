"""A sending throttle shared through Redis by every worker on every machine.

Two sliding windows are checked for each message, atomically, in one Lua script: the
global rate (messages per second) and, when the recipient's domain has a limit, that
domain's window (e.g. qq.com: 60 per 60 s). A message takes a slot in both windows or in
neither, so a domain that is full never eats global capacity. Time comes from the Redis
server (``TIME``), so machines with skewed clocks still agree.

Windows are sorted sets of slot ids scored by time (like listmonk's sliding window, but
shared). When Redis is lost the windows are empty again, which at worst lets one window's
worth of extra messages through; it never blocks sending for good.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis

KEY_PREFIX = "tidings:throttle:"
GLOBAL_KEY = KEY_PREFIX + "global"
# The global rate is enforced over one-second windows.
GLOBAL_WINDOW_SECONDS = 1.0
# Longest single sleep while waiting for a slot, so a pause is noticed quickly.
MAX_SLEEP_SECONDS = 1.0
# Smallest sleep: below this, a busy loop would just hammer Redis.
MIN_SLEEP_SECONDS = 0.001

# KEYS: global, domain (may equal "" when no domain limit)
# ARGV: global_limit, global_window_ms, domain_limit, domain_window_ms, member
# Returns 0 when a slot was taken, else the milliseconds to wait before trying again.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local function check(key, limit, window)
  if limit <= 0 or key == '' then return 0 end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) < limit then return 0 end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
local g_limit, g_window = tonumber(ARGV[1]), tonumber(ARGV[2])
local d_limit, d_window = tonumber(ARGV[3]), tonumber(ARGV[4])
wait = math.max(check(KEYS[1], g_limit, g_window), check(KEYS[2], d_limit, d_window))
if wait > 0 then return wait end
local member = ARGV[5] .. ':' .. now
if g_limit > 0 then
  redis.call('ZADD', KEYS[1], now, member)
  redis.call('PEXPIRE', KEYS[1], g_window * 2)
end
if d_limit > 0 and KEYS[2] ~= '' then
  redis.call('ZADD', KEYS[2], now, member)
  redis.call('PEXPIRE', KEYS[2], d_window * 2)
end
return 0
"""


@dataclass(frozen=True)
class DomainLimit:
    """At most ``limit`` messages to one recipient domain per ``window`` seconds."""

    limit: int
    window: float


class Throttle:
    """Global and per-domain sliding windows kept in Redis.

    ``acquire(domain)`` blocks until a slot is free; ``try_acquire(domain)`` returns the
    seconds to wait (0.0 when the slot was taken).
    """

    def __init__(
        self,
        client: redis.Redis,
        global_rate: float,
        domain_limits: Mapping[str, DomainLimit] | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        # A fractional rate (0.5/s) becomes one message per 2 s window.
        if 0 < global_rate < 1:
            self.global_limit, self.global_window = 1, 1.0 / global_rate
        else:
            self.global_limit, self.global_window = int(global_rate), GLOBAL_WINDOW_SECONDS
        self.domains = {k.lower(): v for k, v in (domain_limits or {}).items()}
        self._script = client.register_script(_SCRIPT)
        self._sleep = sleep
        self._token = secrets.token_hex(6)
        self._counter = 0

    @classmethod
    def from_settings(
        cls,
        client: redis.Redis,
        global_rate: float,
        domain_limits: Mapping[str, Mapping[str, float]],
    ) -> Throttle:
        """Build from the ``sending`` settings' plain values."""
        limits = {
            d: DomainLimit(int(spec["limit"]), float(spec.get("window", 60)))
            for d, spec in domain_limits.items()
        }
        return cls(client, global_rate, limits)

    def try_acquire(self, domain: str) -> float:
        """Take a slot for one message to ``domain`` if both windows allow; else return
        how many seconds to wait before trying again."""
        limit = self.domains.get(domain.lower())
        if self.global_limit <= 0 and limit is None:
            return 0.0  # nothing to enforce: no Redis round trip
        self._counter += 1
        wait_ms = self._script(
            keys=[GLOBAL_KEY, KEY_PREFIX + "d:" + domain.lower() if limit else ""],
            args=[
                self.global_limit,
                int(self.global_window * 1000),
                limit.limit if limit else 0,
                int(limit.window * 1000) if limit else 0,
                f"{self._token}:{self._counter}",
            ],
        )
        return int(wait_ms) / 1000.0

    def acquire(self, domain: str, should_stop: Callable[[], bool] | None = None) -> bool:
        """Wait for a slot; return False if ``should_stop`` said to give up while waiting."""
        while True:
            wait = self.try_acquire(domain)
            if wait <= 0:
                return True
            if should_stop is not None and should_stop():
                return False
            self._sleep(min(MAX_SLEEP_SECONDS, max(MIN_SLEEP_SECONDS, wait)))
