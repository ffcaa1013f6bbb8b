"""A sending throttle shared through Redis by every worker on every machine.

Up to three sliding windows are checked for each message, atomically, in one Lua script:
the global rate (messages per second), the recipient domain's window when it has a limit,
and the window of the domain's mailbox provider when that provider has a preset (e.g.
Tencent: 60 per 60 s over qq.com, foxmail.com and the company domains it hosts). A
message takes a slot in every window or in none, so a full window never eats another's
capacity. Time comes from the Redis server (``TIME``), so machines with skewed clocks
still agree.

Each provider queue (a provider code, or a domain of no known provider) also has a
back-off state, one Redis hash: a provider that answers "slow down" (``provider_replies``)
pauses its queue for everyone (``back_off``): ``backoff`` seconds the first time,
doubling with each slow-down after the pause ended, up to ``backoff_max``; the level
steps down one for each ``BACKOFF_DECAY_FACTOR`` × ``backoff`` seconds of sending to it
without a slow-down (checked by the same script that takes the slot, so decaying costs
no round trip). A slow-down reply that arrives while the queue is already paused (a
message that left before the pause) does not step it up again.

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

# A back-off level steps down after this many base back-offs of sending without one.
BACKOFF_DECAY_FACTOR = 5.0
# A provider queue with no preset still pauses when it says "slow down" (a company
# domain on its own server): this long first, at most this long.
DEFAULT_BACKOFF_SECONDS = 60.0
DEFAULT_BACKOFF_MAX_SECONDS = 3600.0
# Why ``try_acquire`` said to wait (``Throttle.blocked_by``).
BLOCKED = {1: "global", 2: "domain", 3: "provider", 4: "paused"}

# KEYS: global, domain, provider window, provider state (each "" when not enforced)
# ARGV: global_limit, global_window_ms, domain_limit, domain_window_ms, member,
#       provider_limit, provider_window_ms, decay_ms
# Returns {0, 0} when a slot was taken, else {milliseconds to wait, why (BLOCKED)}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if KEYS[4] ~= '' then
  local st = redis.call('HMGET', KEYS[4], 'until', 'level', 'at')
  local untl = tonumber(st[1]) or 0
  if untl > now then return {untl - now, 4} end
  local level, at, decay = tonumber(st[2]) or 0, tonumber(st[3]) or 0, tonumber(ARGV[8])
  if level > 0 and decay > 0 and now - at >= decay then
    level = math.max(0, level - math.floor((now - at) / decay))
    redis.call('HSET', KEYS[4], 'level', level, 'at', now)
  end
end
local wait, why = 0, 0
local function check(key, limit, window)
  if limit <= 0 or key == '' then return 0 end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) < limit then return 0 end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
local g_limit, g_window = tonumber(ARGV[1]), tonumber(ARGV[2])
local d_limit, d_window = tonumber(ARGV[3]), tonumber(ARGV[4])
local p_limit, p_window = tonumber(ARGV[6]), tonumber(ARGV[7])
local waits = {
  check(KEYS[1], g_limit, g_window), check(KEYS[2], d_limit, d_window),
  check(KEYS[3], p_limit, p_window)
}
for i = 1, 3 do
  if waits[i] > wait then wait, why = waits[i], i end
end
if wait > 0 then return {wait, why} end
local member = ARGV[5] .. ':' .. now
local function take(key, limit, window)
  if limit <= 0 or key == '' then return end
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window * 2)
end
take(KEYS[1], g_limit, g_window)
take(KEYS[2], d_limit, d_window)
take(KEYS[3], p_limit, p_window)
return {0, 0}
"""

# KEYS: provider state. ARGV: base_ms, max_ms, min_pause_ms, decay_ms
# Returns {pause left in ms, level}.
_BACK_OFF = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local st = redis.call('HMGET', KEYS[1], 'until', 'level')
local untl, level = tonumber(st[1]) or 0, tonumber(st[2]) or 0
if untl > now then return {untl - now, level} end
level = level + 1
local base, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local pause = math.min(cap, base * 2 ^ (level - 1))
pause = math.floor(math.max(pause, tonumber(ARGV[3])))
redis.call('HSET', KEYS[1], 'until', now + pause, 'level', level, 'at', now + pause)
redis.call('PEXPIRE', KEYS[1], pause + tonumber(ARGV[4]) * (level + 1))
return {pause, level}
"""


@dataclass(frozen=True)
class DomainLimit:
    """At most ``limit`` messages to one recipient domain per ``window`` seconds."""

    limit: int
    window: float


@dataclass(frozen=True)
class ProviderLimit:
    """A provider's preset: at most ``limit`` messages per ``window`` seconds to all its
    domains (0 = no window), and the back-off after it says "slow down"."""

    limit: int
    window: float
    backoff: float = DEFAULT_BACKOFF_SECONDS
    backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS

    @classmethod
    def of(cls, spec: Mapping[str, float]) -> ProviderLimit:
        """From the plain values of the ``sending`` settings."""
        return cls(
            int(spec.get("limit", 0)),
            float(spec.get("window", 60)),
            float(spec.get("backoff", DEFAULT_BACKOFF_SECONDS)),
            float(spec.get("backoff_max", DEFAULT_BACKOFF_MAX_SECONDS)),
        )


NO_PRESET = ProviderLimit(0, 60.0)


class Throttle:
    """Global, per-domain and per-provider sliding windows and provider back-offs kept
    in Redis.

    ``acquire(domain)`` blocks until a slot is free; ``try_acquire(domain, provider)``
    returns the seconds to wait (0.0 when the slot was taken) and leaves why in
    ``blocked_by``; ``back_off(provider)`` pauses a provider queue for everyone.
    """

    def __init__(
        self,
        client: redis.Redis,
        global_rate: float,
        domain_limits: Mapping[str, DomainLimit] | None = None,
        provider_limits: Mapping[str, ProviderLimit] | None = None,
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
        self.providers = dict(provider_limits or {})
        self._script = client.register_script(_SCRIPT)
        self._back_off = client.register_script(_BACK_OFF)
        self.blocked_by = ""
        self._sleep = sleep
        self._token = secrets.token_hex(6)
        self._counter = 0

    @classmethod
    def from_settings(
        cls,
        client: redis.Redis,
        global_rate: float,
        domain_limits: Mapping[str, Mapping[str, float]],
        provider_limits: Mapping[str, Mapping[str, float]] | None = None,
    ) -> Throttle:
        """Build from the ``sending`` settings' plain values."""
        limits = {
            d: DomainLimit(int(spec["limit"]), float(spec.get("window", 60)))
            for d, spec in domain_limits.items()
        }
        presets = {p: ProviderLimit.of(spec) for p, spec in (provider_limits or {}).items()}
        return cls(client, global_rate, limits, presets)

    def preset(self, provider: str) -> ProviderLimit:
        """The preset of a provider queue (``NO_PRESET``'s back-off when it has none)."""
        return self.providers.get(provider, NO_PRESET)

    def try_acquire(self, domain: str, provider: str | None = None) -> float:
        """Take a slot for one message to ``domain`` (of provider queue ``provider``) if
        every window allows and the queue is not paused; else return how many seconds
        to wait before trying again (``blocked_by`` says which one is full)."""
        limit = self.domains.get(domain.lower())
        preset = self.providers.get(provider) if provider else None
        self.blocked_by = ""
        if self.global_limit <= 0 and limit is None and preset is None:
            # Nothing to enforce: no Redis round trip (a queue without any limit is not
            # checked for a pause either; the row's own retry time still holds it back).
            return 0.0
        self._counter += 1
        pause = preset or NO_PRESET
        queue = provider or ""
        wait_ms, why = self._script(
            keys=[
                GLOBAL_KEY,
                KEY_PREFIX + "d:" + domain.lower() if limit else "",
                KEY_PREFIX + "p:" + queue if pause.limit > 0 else "",
                KEY_PREFIX + "b:" + queue if queue else "",
            ],
            args=[
                self.global_limit,
                int(self.global_window * 1000),
                limit.limit if limit else 0,
                int(limit.window * 1000) if limit else 0,
                f"{self._token}:{self._counter}",
                preset.limit if preset else 0,
                int(preset.window * 1000) if preset else 0,
                int(pause.backoff * BACKOFF_DECAY_FACTOR * 1000),
            ],
        )
        self.blocked_by = BLOCKED.get(int(why), "")
        return int(wait_ms) / 1000.0

    def back_off(self, provider: str, min_pause: float = 0.0) -> float:
        """The provider said "slow down": pause its queue for every worker (see the
        module docstring); returns the seconds the pause still lasts."""
        preset = self.preset(provider)
        pause_ms, _level = self._back_off(
            keys=[KEY_PREFIX + "b:" + provider],
            args=[
                int(preset.backoff * 1000),
                int(max(preset.backoff, preset.backoff_max) * 1000),
                int(min_pause * 1000),
                int(preset.backoff * BACKOFF_DECAY_FACTOR * 1000),
            ],
        )
        return int(pause_ms) / 1000.0

    def acquire(
        self,
        domain: str,
        should_stop: Callable[[], bool] | None = None,
        provider: str | None = None,
    ) -> bool:
        """Wait for a slot; return False if ``should_stop`` said to give up while waiting."""
        while True:
            wait = self.try_acquire(domain, provider)
            if wait <= 0:
                return True
            if should_stop is not None and should_stop():
                return False
            self._sleep(min(MAX_SLEEP_SECONDS, max(MIN_SLEEP_SECONDS, wait)))
