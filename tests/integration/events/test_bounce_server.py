"""Real SMTP into the bounce listener: smtplib → aiosmtpd → stored file → processed."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

import pytest

from service.cli.events import enqueue_bounce
from service.events.bounce_server import start_bounce_server
from service.events.inbound import inbound_dir, process_file
from service.mail.verp import verp_address
from service.model import Delivery
from service.subscribers.suppression import is_suppressed
from tests.integration.events.events_factories import fill, make_campaign, make_delivery

WORKER_WAIT_SECONDS = 60


@pytest.fixture
def bounce_server(settings):
    queued: list[Path] = []
    controller = start_bounce_server(settings, queued.append)
    controller.queued = queued
    yield controller
    controller.stop()


def test_a_dsn_from_the_null_sender_is_accepted_stored_and_processed(
    session, settings, bounce_server
):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "alice@example.net")
    session.commit()
    raw = fill("postfix_user_unknown.eml", settings, delivery, "alice@example.net")
    rcpt = verp_address(delivery.id, settings.secret_key.encode(), settings.bounce_domain)
    with smtplib.SMTP("127.0.0.1", bounce_server.port) as smtp:
        refused = smtp.sendmail("<>", [rcpt], raw)
    assert refused == {}
    [path] = bounce_server.queued
    assert path.exists() and raw in path.read_bytes()
    process_file(session, settings, path)
    session.commit()
    session.refresh(delivery)
    assert delivery.status == "bounced_hard"
    assert is_suppressed(session, "alice@example.net")


def test_a_forged_or_foreign_address_is_refused_at_rcpt(settings, bounce_server):
    forged = "b+1.aaaaaaaaaa@" + settings.bounce_domain
    with smtplib.SMTP("127.0.0.1", bounce_server.port) as smtp:
        smtp.ehlo()
        smtp.mail("<>")
        for address in (forged, "postmaster@elsewhere.example", "b+zz@" + settings.bounce_domain):
            code, message = smtp.rcpt(address)
            assert code == 550, (address, message)
    assert bounce_server.queued == []


def test_a_message_is_kept_on_disk_when_the_queue_is_unreachable(session, settings):
    def broken_queue(_path: Path) -> None:
        raise ConnectionError("redis is away")

    controller = start_bounce_server(settings, broken_queue)
    try:
        campaign = make_campaign(session)
        delivery = make_delivery(session, campaign, "k@example.net")
        session.commit()
        rcpt = verp_address(delivery.id, settings.secret_key.encode(), settings.bounce_domain)
        before = set(inbound_dir(settings).glob("*.eml"))
        with smtplib.SMTP("127.0.0.1", controller.port) as smtp:
            assert smtp.sendmail("<>", [rcpt], b"Subject: x\r\n\r\nbody\r\n") == {}
        assert len(set(inbound_dir(settings).glob("*.eml")) - before) == 1
    finally:
        controller.stop()


def test_the_real_worker_processes_a_bounce_sent_to_the_listener(session, settings, celery_worker):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "grace@gmail.com")
    session.commit()
    controller = start_bounce_server(settings, enqueue_bounce)  # the real hand-off: Celery
    try:
        raw = fill("gmail_mailbox_full_5_2_2.eml", settings, delivery, "grace@gmail.com")
        rcpt = verp_address(delivery.id, settings.secret_key.encode(), settings.bounce_domain)
        with smtplib.SMTP("127.0.0.1", controller.port) as smtp:
            smtp.sendmail("<>", [rcpt], raw)
    finally:
        controller.stop()
    deadline = time.monotonic() + WORKER_WAIT_SECONDS
    status = "sent"
    while time.monotonic() < deadline and status == "sent":
        time.sleep(0.3)
        session.expire_all()
        status = session.get(Delivery, delivery.id).status
    assert status == "bounced_soft", celery_worker.log_path.read_text()[-2000:]
    assert list((inbound_dir(settings) / "done").glob("*.eml"))


def test_tidings_bounces_runs_the_listener_until_stopped(test_env):
    import os
    import subprocess
    import sys

    from service.net import free_port, port_open

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "bounces",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={**os.environ, **test_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.1)
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.ehlo()
            smtp.mail("<>")
            assert smtp.rcpt("nobody@example.org")[0] == 550
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 0, output
    assert f"listening on 127.0.0.1:{port}" in output


def test_a_stored_message_whose_hint_was_lost_is_found_by_the_sweep(settings):
    import os

    from service.events.inbound import finish_file, stale_files, store_raw

    path = store_raw(settings, b"Subject: x\r\n\r\nbody\r\n", ["b+1.aaaaaaaaaa@example.org"])
    assert path not in stale_files(settings)
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert path in stale_files(settings)
    finish_file(path, ok=True)
    finish_file(path, ok=True)  # a twin task finishing second changes nothing
    assert path not in stale_files(settings)
    assert (path.parent / "done" / path.name).exists()
