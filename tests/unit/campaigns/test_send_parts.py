"""Backoff, the Redis throttle (real Redis), relay failover (real SMTP), and the message of
a rendered campaign (parsed back, one-line List-Unsubscribe, DKIM verified by dkimpy)."""

from __future__ import annotations

import random
import re
import time
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest
import redis
from sqlalchemy.orm import Session

from service.campaigns.drafts import create_campaign
from service.campaigns.engine import start
from service.campaigns.previews import render_message
from service.campaigns.sender import backoff_delay
from service.cli.demo import load_demo
from service.config import Settings, SmtpTarget
from service.mail.dkim_sign import generate_key
from service.mail.relays import Relay, RelayPool, weighted_order
from service.mail.sending_config import (
    SendingConfig,
    SendingConfigError,
    get_sending_config,
    save_sending_config,
)
from service.mail.throttle import KEY_PREFIX, DomainLimit, Throttle
from service.net import free_port
from tests.integration.campaigns.sink import Sink


def test_backoff_doubles_from_the_base_is_capped_and_jittered() -> None:
    config = SendingConfig(retry_base_seconds=10, retry_max_seconds=60, retry_jitter=0.2)
    rng = random.Random(1)
    delays = [backoff_delay(n, config, rng) for n in (1, 2, 3, 4, 10)]
    assert 8 <= delays[0] <= 12 and 16 <= delays[1] <= 24 and 32 <= delays[2] <= 48
    assert 48 <= delays[3] <= 72 and 48 <= delays[4] <= 72
    assert len({round(backoff_delay(1, config), 6) for _ in range(20)}) > 1


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    c = redis.Redis.from_url(redis_url)
    for key in c.scan_iter(KEY_PREFIX + "*"):
        c.delete(key)
    return c


def test_the_global_rate_is_a_sliding_window_shared_by_every_throttle(
    client: redis.Redis,
) -> None:
    one = Throttle(client, global_rate=5)
    two = Throttle(client, global_rate=5)  # another worker on another machine
    taken = [one.try_acquire("example.org") == 0 for _ in range(3)]
    taken += [two.try_acquire("example.org") == 0 for _ in range(3)]
    assert taken == [True] * 5 + [False]
    wait = two.try_acquire("example.org")
    assert 0 < wait <= 1.0
    time.sleep(wait + 0.05)
    assert one.try_acquire("example.org") == 0


def test_a_full_domain_window_does_not_use_up_the_global_rate(client: redis.Redis) -> None:
    throttle = Throttle(client, global_rate=100, domain_limits={"qq.com": DomainLimit(2, 60)})
    assert throttle.try_acquire("QQ.com") == 0
    assert throttle.try_acquire("qq.com") == 0
    assert throttle.try_acquire("qq.com") > 50  # wait for the 60 s window
    assert all(throttle.try_acquire("163.com") == 0 for _ in range(98))
    assert throttle.try_acquire("163.com") > 0  # 100/s reached: qq's refusals took nothing


def test_acquire_waits_for_a_slot_and_gives_up_when_told_to_stop(client: redis.Redis) -> None:
    throttle = Throttle(client, global_rate=2)
    start_time = time.monotonic()
    assert all(throttle.acquire("a.org") for _ in range(3))
    assert time.monotonic() - start_time >= 0.5
    while throttle.try_acquire("a.org") == 0:
        pass
    assert throttle.acquire("a.org", should_stop=lambda: True) is False


def test_relays_are_chosen_by_weight_and_a_dead_one_fails_over(tmp_path: Path) -> None:
    sink = Sink()
    try:
        dead_port = free_port()  # nothing listens here
        dead = Relay(SmtpTarget("127.0.0.1", dead_port), weight=1000)
        live = Relay(SmtpTarget("127.0.0.1", sink.port), weight=1)
        rng = random.Random(3)
        firsts = [weighted_order([dead, live], rng)[0] for _ in range(200)]
        assert firsts.count(dead) > 190
        backend, relay = RelayPool([dead, live], tmp_path).connect()
        try:
            backend.send("a@example.org", "b@example.org", b"Subject: x\r\n\r\nhi\r\n")
        finally:
            backend.close()
        assert relay == live and sink.state.counts() == {"b@example.org": 1}
        # The dead relay now cools down: it is tried last for a while.
        assert weighted_order([dead, live])[0] == live
    finally:
        sink.stop()


def test_a_zero_weight_relay_is_only_a_standby() -> None:
    main = Relay(SmtpTarget("a", 25), 1)
    standby = Relay(SmtpTarget("b", 25), 0)
    assert all(weighted_order([standby, main])[0] == main for _ in range(20))


def test_sending_settings_are_validated_and_stored(session: Session) -> None:
    with pytest.raises(SendingConfigError) as err:
        save_sending_config(session, {"global_rate": "fast", "relays": [{"url": "http://x"}]})
    assert set(err.value.errors) == {"global_rate", "relays"}
    save_sending_config(
        session,
        {
            "global_rate": 50,
            "domain_limits": {"QQ.com": {"limit": 10, "window": 60}},
            "relays": [{"url": "smtp://relay.example.org:587?starttls=1", "weight": 2}],
        },
    )
    session.commit()
    config = get_sending_config(session)
    assert config.global_rate == 50 and config.domain_limits == {
        "qq.com": {"limit": 10, "window": 60}
    }
    assert config.relays[0].weight == 2 and config.error_brake == 50


def _dkim_settings(settings: Settings, tmp_path: Path) -> tuple[Settings, str]:
    pem, txt = generate_key()
    key = tmp_path / "dkim.pem"
    key.write_bytes(pem)
    return (
        settings.with_overrides(
            dkim_domain="example.org",
            dkim_selector="s2026",
            dkim_key_file=key,
            extra={**settings.extra, "TIDINGS_BOUNCE_DOMAIN": "bounces.example.org"},
        ),
        txt,
    )


def test_a_rendered_campaign_message_parses_back_and_its_dkim_verifies_with_dkimpy(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    demo = load_demo(session)
    session.commit()
    signed, txt = _dkim_settings(settings, tmp_path)
    # RFC 8058 one-click needs an https base URL (List-Unsubscribe-Post is left out on http).
    signed = signed.with_overrides(base_url="https://news.example.org")
    c = create_campaign(
        session,
        signed,
        issue_id=demo.issue_id,
        lists=["members"],
        content_mode="excerpt",
        reply_to="office@example.org",
    )
    session.commit()
    start(session, signed, c.id)
    from service.campaigns.recipients import materialize

    materialize(session, c.id)
    data = render_message(session, signed, c.id, "wang.li@example.org")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s2026._domainkey.example.org."
        return txt.encode()

    assert dkim.verify(data, dnsfunc=dns)
    header_block = data.split(b"\r\n\r\n", 1)[0]
    signature = re.search(rb"h=([^;]+);", header_block.replace(b"\r\n ", b""))
    assert signature and b"list-unsubscribe-post" in signature.group(1)
    lines = header_block.split(b"\r\n")
    unsub = [line for line in lines if line.startswith(b"List-Unsubscribe:")]
    assert len(unsub) == 1 and unsub[0].startswith(b"List-Unsubscribe: <https://")
    # HTTPS first (the one-click URL), then the mailto: of the unsubscribe mailbox.
    assert re.fullmatch(
        rb"List-Unsubscribe: <https://[^>]+/unsubscribe/([0-9a-z.]+)>, "
        rb"<mailto:unsubscribe@[^?>]+\?subject=unsubscribe%20\1>",
        unsub[0],
    )
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "wang.li@example.org"
    assert msg["Reply-To"] == "office@example.org"
    assert re.fullmatch(rf"<c{c.id}\.d\d+\.[0-9a-f]+@example\.org>", msg["Message-ID"])
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.get_payload()
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert "王立" in html.get_content() and "/o/" in html.get_content()
    assert b"?==?" not in header_block


def test_render_refuses_an_unknown_subscriber(session: Session, settings: Settings) -> None:
    demo = load_demo(session)
    session.commit()
    c = create_campaign(session, settings, issue_id=demo.issue_id, lists=["members"])
    session.commit()
    with pytest.raises(LookupError, match="no subscriber"):
        render_message(session, settings, c.id, "nobody@example.org")


def test_a_death_grace_shorter_than_three_heartbeats_is_refused(session: Session) -> None:
    # A live worker beating every 5 s must never look dead: 10 s would allow one late beat.
    with pytest.raises(SendingConfigError) as err:
        save_sending_config(session, {"heartbeat_seconds": 5, "worker_dead_seconds": 10})
    assert set(err.value.errors) == {"worker_dead_seconds"}
    with pytest.raises(SendingConfigError) as err:
        save_sending_config(session, {"heartbeat_seconds": 0})
    assert "heartbeat_seconds" in err.value.errors
    saved = save_sending_config(session, {"heartbeat_seconds": 1, "worker_dead_seconds": 3})
    assert (saved.heartbeat_seconds, saved.worker_dead_seconds) == (1, 3)
