"""Open pixel and click redirect over real Redis and the real database."""

from __future__ import annotations

import threading
import urllib.request
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service import tokens
from service.events.machine_opens import RULES
from service.events.tracking import (
    PENDING_KEY,
    PIXEL_GIF,
    PROCESSING_KEY,
    flush_hits,
    pending_count,
    redis_for,
)
from service.model import Event, utcnow
from service.reports.queries import campaign_report, time_series
from service.web.app import get_db
from tests.integration.events.events_factories import make_campaign, make_delivery

THREADS = 50
REQUESTS_PER_THREAD = 20
URLS = ("https://example.org/a?x=1&y=%E4%B8%AD", "https://example.org/b#frag")


@pytest.fixture
def queue(settings):
    client = redis_for(settings.redis_url)
    client.delete(PENDING_KEY, PROCESSING_KEY)
    yield client
    client.delete(PENDING_KEY, PROCESSING_KEY)


@pytest.fixture
def delivery(session):
    campaign = make_campaign(session, links=URLS)
    row = make_delivery(
        session, campaign, "reader@example.net", sent_at=utcnow() - timedelta(hours=3)
    )
    session.commit()
    return row


def _open(settings, delivery_id):
    return "/o/" + tokens.make_token(settings.secret_key, tokens.OPEN, delivery_id)


def _click(settings, delivery_id, position):
    return "/c/" + tokens.make_token(settings.secret_key, tokens.CLICK, delivery_id, position)


def test_the_pixel_is_an_uncached_gif_and_an_open_is_recorded_after_the_flush(
    app, client, settings, session, delivery, queue
):
    resp = client.get(_open(settings, delivery.id), headers={"User-Agent": "Thunderbird/128"})
    assert resp.status_code == 200
    assert resp.mimetype == "image/gif" and resp.data == PIXEL_GIF
    assert "no-store" in resp.headers["Cache-Control"]
    assert pending_count(queue) == 1
    assert flush_hits(get_db(app), queue) == 1
    event = session.scalars(select(Event)).one()
    assert (event.type, event.delivery_id, event.machine) == ("open", delivery.id, False)
    assert event.campaign_id == delivery.campaign_id


def test_a_forged_pixel_token_still_gets_a_gif_but_records_nothing(client, queue):
    resp = client.get("/o/1.aaaaaaaaaaaaaaaa")
    assert resp.status_code == 200 and resp.data == PIXEL_GIF
    assert pending_count(queue) == 0


def test_a_click_redirects_to_the_exact_stored_url_and_records_the_link(
    app, client, settings, session, delivery, queue
):
    resp = client.get(_click(settings, delivery.id, 0))
    assert resp.status_code == 302
    assert resp.headers["Location"] == URLS[0]
    flush_hits(get_db(app), queue)
    event = session.scalars(select(Event)).one()
    assert event.type == "click" and event.link_id is not None


def test_unknown_or_forged_click_tokens_get_a_friendly_404_and_no_redirect(
    client, settings, delivery, queue
):
    for path in (_click(settings, delivery.id, 7), "/c/1.0.aaaaaaaaaaaaaaaa", "/c/x"):
        resp = client.get(path)
        assert resp.status_code == 404
        assert "Location" not in resp.headers
    assert pending_count(queue) == 0


def test_a_crash_mid_flush_loses_nothing_and_the_replay_stores_nothing_twice(
    app, client, settings, session, delivery, queue
):
    for _ in range(5):
        client.get(_open(settings, delivery.id))
    # A flusher that moved the records to the processing list, committed, then died
    # before deleting the list: the next flush replays the same records.
    db = get_db(app)
    assert flush_hits(db, queue) == 5
    for raw in session.scalars(select(Event.provider_event_id)):
        assert raw
    from service.events.tracking import Hit

    replay = [
        Hit("open", e.provider_event_id, e.delivery_id, None, e.at.timestamp(), "")
        for e in session.scalars(select(Event))
    ]
    queue.rpush(PROCESSING_KEY, *[h.encode() for h in replay])
    assert flush_hits(db, queue) == 0
    assert session.scalar(select(func.count(Event.id))) == 5
    assert pending_count(queue) == 0


def test_hits_wait_in_redis_while_no_worker_flushes(client, settings, delivery, queue, session):
    for _ in range(3):
        client.get(_open(settings, delivery.id))
    assert pending_count(queue) == 3
    assert session.scalar(select(func.count(Event.id))) == 0


def test_pixel_and_click_under_concurrency_lose_no_event(
    app, live_url, settings, session, delivery, queue
):
    base = live_url
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def hammer(n: int) -> None:
        for i in range(REQUESTS_PER_THREAD):
            path = _open(settings, delivery.id) if (n + i) % 2 else _click(settings, delivery.id, 1)
            try:
                code = opener.open(base + path, timeout=30).status
            except urllib.error.HTTPError as exc:
                code = exc.code
            with lock:
                statuses[code] += 1

    workers = [threading.Thread(target=hammer, args=(n,)) for n in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    total = THREADS * REQUESTS_PER_THREAD
    assert statuses == Counter({200: total // 2, 302: total // 2})
    flush_hits(get_db(app), queue, batch=300)
    counts = dict(session.execute(select(Event.type, func.count()).group_by(Event.type)).all())
    assert counts == {"open": total // 2, "click": total // 2}
    assert pending_count(queue) == 0
    # The rollups the report reads were kept in step by the flush.
    report = campaign_report(session, delivery.campaign_id)
    assert (report["opens_total"], report["opens_unique"]) == (total // 2, 1)
    assert (report["clicks_total"], report["clicks_unique"]) == (total // 2, 1)
    assert [link["clicks_total"] for link in report["links"]] == [0, total // 2]
    assert sum(time_series(session, delivery.campaign_id)["opens"]) == total // 2


def test_with_redis_down_the_open_is_written_straight_to_the_database(settings, session, delivery):
    from service.net import free_port
    from service.web.app import create_app

    dead = settings.with_overrides(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(test_config={"TESTING": True}, settings=dead)
    try:
        resp = app.test_client().get(_open(settings, delivery.id))
        assert resp.status_code == 200 and resp.data == PIXEL_GIF
        assert session.scalar(select(func.count(Event.id)).where(Event.type == "open")) == 1
    finally:
        get_db(app).dispose()


def test_rebuilding_the_rollups_gives_what_the_flush_kept(
    app, client, settings, session, delivery, queue
):
    from service.events.tracking import rebuild_rollups

    for path in (
        _open(settings, delivery.id),
        _click(settings, delivery.id, 0),
        _click(settings, delivery.id, 1),
        _open(settings, delivery.id),
    ):
        client.get(path, headers={"User-Agent": "Mozilla/5.0"})  # the MPP agent: machine opens
    flush_hits(get_db(app), queue)
    kept = campaign_report(session, delivery.campaign_id)
    assert kept["opens_machine"] == 2 and kept["opens_total"] == 0 and kept["clicks_total"] == 2
    rebuild_rollups(session, delivery.campaign_id)
    session.commit()
    assert campaign_report(session, delivery.campaign_id) == kept


def test_the_real_worker_flushes_recorded_opens_into_the_database(
    client, settings, session, delivery, queue, celery_worker
):
    import time

    from worker.tasks_events import flush_tracking

    for _ in range(3):
        client.get(_open(settings, delivery.id))
    flush_tracking.delay()
    deadline = time.monotonic() + 60
    count = 0
    while time.monotonic() < deadline and count < 3:
        time.sleep(0.3)
        count = session.scalar(select(func.count(Event.id)).where(Event.type == "open")) or 0
    assert count == 3, celery_worker.log_path.read_text()[-2000:]
    assert pending_count(queue) == 0


# A proxy's request to the pixel, with the headers its source documents (the User-Agent:
# no source documents any other header), and the reason it is recorded under.
PROXY_REQUESTS = [
    (rule.sample, rule.reason) for rule in RULES if rule.sample and "open" in rule.hits
]
BROWSERS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0",
)


@pytest.mark.parametrize(("agent", "reason"), PROXY_REQUESTS)
def test_a_proxy_fetching_the_pixel_is_recorded_as_a_machine_open_with_its_reason(
    app, client, settings, session, delivery, queue, agent, reason
):
    resp = client.get(
        _open(settings, delivery.id), headers={"User-Agent": agent, "Accept": "image/*"}
    )
    assert resp.status_code == 200 and resp.data == PIXEL_GIF
    flush_hits(get_db(app), queue)
    event = session.scalars(select(Event)).one()
    assert event.machine is True and event.detail["machine_reason"] == reason
    report = campaign_report(session, delivery.campaign_id)
    assert report["machine_opens_by_reason"] == {reason: 1}
    assert report["opens_machine"] == 1 and report["opens_total"] == 0


def test_a_browser_open_is_human_and_the_breakdown_adds_up_to_the_machine_opens(
    app, client, settings, session, delivery, queue
):
    for agent in BROWSERS:
        client.get(_open(settings, delivery.id), headers={"User-Agent": agent})
    for agent, _ in PROXY_REQUESTS + [PROXY_REQUESTS[0]]:
        client.get(_open(settings, delivery.id), headers={"User-Agent": agent})
    flush_hits(get_db(app), queue)
    humans = session.scalars(select(Event).where(Event.machine.is_(False))).all()
    assert sorted(e.detail["ua"] for e in humans) == sorted(BROWSERS)
    assert all("machine_reason" not in e.detail for e in humans)
    report = campaign_report(session, delivery.campaign_id)
    by_reason = report["machine_opens_by_reason"]
    assert by_reason == {
        "apple-mpp": 2,
        "image-proxy:gmail": 1,
        "image-proxy:yahoo": 1,
        "prefetch:gmail": 1,
    }
    assert list(by_reason)[0] == "apple-mpp"  # most first
    assert sum(by_reason.values()) == report["opens_machine"] == 5
    assert report["opens_total"] == 2
