"""Machine opens and scanner clicks are told apart from likely humans (STANDARDS §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.events.tracking import Hit, machine_reason

SENT = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LATER = SENT + timedelta(hours=2)
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"


def test_apple_mail_privacy_protection_proxy_is_a_machine_open():
    assert machine_reason("open", "Mozilla/5.0", LATER, SENT) == "apple-mpp"


def test_google_image_proxy_is_a_machine_open():
    agent = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )
    assert machine_reason("open", agent, LATER, SENT) == "image-proxy:gmail"


def test_an_open_seconds_after_sending_is_a_machine_open():
    assert (
        machine_reason("open", IPHONE, SENT + timedelta(seconds=3), SENT) == "seconds-after-sending"
    )


def test_a_real_browser_open_hours_later_is_human():
    assert machine_reason("open", IPHONE, LATER, SENT) is None


def test_scanner_agents_and_instant_clicks_are_flagged_but_people_are_not():
    assert machine_reason("click", "Mimecast-URL-Protect/1.0", LATER, SENT) == "scanner"
    assert machine_reason("click", IPHONE, SENT + timedelta(seconds=2), SENT) == (
        "seconds-after-sending"
    )
    assert machine_reason("click", IPHONE, LATER, SENT) is None


def test_a_hit_survives_its_round_trip_through_redis_encoding():
    hit = Hit("click", "abc123", 42, 3, 1764122400.5, "UA")
    assert Hit.decode(hit.encode()) == hit
    assert Hit.decode(b"not json") is None
