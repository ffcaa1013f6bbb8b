"""Per-provider windows, the shared back-off and the presets in the sending settings, over
a real Redis (issue 17, item 5)."""

from __future__ import annotations

import time

import pytest
import redis
from sqlalchemy.orm import Session

from service.config import ConfigError, Settings
from service.mail.sending_config import (
    DEFAULT_PROVIDER_LIMITS,
    SendingConfigError,
    env_provider_limits,
    get_sending_config,
    provider_presets,
    save_sending_config,
)
from service.mail.throttle import KEY_PREFIX, ProviderLimit, Throttle


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    c = redis.Redis.from_url(redis_url)
    for key in c.scan_iter(KEY_PREFIX + "*"):
        c.delete(key)
    return c


def _worker(client: redis.Redis, **preset: float) -> Throttle:
    """One worker's throttle: no global rate, a Tencent preset."""
    spec = {"limit": 3, "window": 60, "backoff": 0.4, "backoff_max": 1.0, **preset}
    return Throttle(client, 0, {}, {"tencent": ProviderLimit.of(spec)})


def test_two_workers_share_one_window_over_all_of_a_providers_domains(
    client: redis.Redis,
) -> None:
    one, two = _worker(client), _worker(client)
    assert one.try_acquire("qq.com", "tencent") == 0
    assert two.try_acquire("foxmail.com", "tencent") == 0
    assert one.try_acquire("qq.com", "tencent") == 0
    assert two.try_acquire("qq.com", "tencent") > 50 and two.blocked_by == "provider"
    # Another provider's queue, and a domain of none, are not held back.
    assert two.try_acquire("163.com", "netease") == 0
    assert two.try_acquire("example.org", None) == 0


def test_a_slow_down_pauses_the_queue_for_every_worker_then_lets_it_go(
    client: redis.Redis,
) -> None:
    one, two = _worker(client, limit=100), _worker(client, limit=100)
    pause = one.back_off("tencent")
    assert 0.3 < pause <= 0.4
    wait = two.try_acquire("qq.com", "tencent")
    assert 0 < wait <= 0.4 and two.blocked_by == "paused"
    assert two.try_acquire("163.com", "netease") == 0
    # A second slow-down during the pause (a message that left before it) adds nothing.
    assert two.back_off("tencent") <= pause
    time.sleep(pause + 0.05)
    assert two.try_acquire("qq.com", "tencent") == 0


def test_the_back_off_doubles_up_to_its_longest_and_steps_down_after_quiet_sending(
    client: redis.Redis,
) -> None:
    throttle = _worker(client, limit=100, backoff=0.1, backoff_max=0.3)
    pauses = []
    for _ in range(3):
        pauses.append(throttle.back_off("tencent"))
        time.sleep(pauses[-1] + 0.02)
    assert [round(p, 1) for p in pauses] == [0.1, 0.2, 0.3]
    # Five base back-offs (0.5 s) of sending without a slow-down: one step down per period.
    time.sleep(1.05)
    assert throttle.try_acquire("qq.com", "tencent") == 0
    assert round(throttle.back_off("tencent"), 1) == 0.2


def test_a_reply_that_asks_for_a_day_gets_at_least_its_own_pause(client: redis.Redis) -> None:
    throttle = _worker(client)
    assert throttle.back_off("tencent", min_pause=5) == pytest.approx(5, abs=0.05)


def test_provider_presets_are_stored_validated_and_pinned_by_the_environment(
    session: Session, settings: Settings
) -> None:
    assert get_sending_config(session).provider_limits == DEFAULT_PROVIDER_LIMITS
    with pytest.raises(SendingConfigError) as err:
        save_sending_config(session, {"provider_limits": {"hotmail": {"limit": 5}}})
    assert err.value.errors["provider_limits"].code == "settings.unknown_provider"
    with pytest.raises(SendingConfigError) as err:
        save_sending_config(
            session, {"provider_limits": {"tencent": {"limit": 5, "backoff": 60, "backoff_max": 1}}}
        )
    assert err.value.errors["provider_limits"].code == "settings.bad_provider_limit"
    save_sending_config(session, {"provider_limits": {"Tencent": {"limit": 30, "window": 60}}})
    config = get_sending_config(session)
    assert config.provider_limits == {
        "tencent": {"limit": 30, "window": 60, "backoff": 60, "backoff_max": 3600}
    }
    pinned = settings.with_overrides(
        extra={**settings.extra, "TIDINGS_PROVIDER_LIMITS": "tencent=10/30/5/50, netease=20/60"}
    )
    presets = provider_presets(pinned, config)
    assert presets["tencent"] == {"limit": 10, "window": 30, "backoff": 5, "backoff_max": 50}
    assert presets["netease"]["limit"] == 20
    broken = settings.with_overrides(extra={"TIDINGS_PROVIDER_LIMITS": "qq=ten"})
    with pytest.raises(ConfigError, match="TIDINGS_PROVIDER_LIMITS"):
        env_provider_limits(broken)
    assert provider_presets(broken, config) == config.provider_limits
