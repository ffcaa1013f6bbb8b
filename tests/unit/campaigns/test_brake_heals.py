"""The error brake heals (issue 14, goal 4): which failures may pass by themselves, how the
probes back off, and that a person's action always wins over a probe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.settings_store import set_setting
from service.campaigns import healing
from service.campaigns.brake import brake_reason
from service.campaigns.engine import start
from service.campaigns.healing import PERMANENT, TRANSIENT, classify, probe_delay, probe_due
from service.campaigns.service import PAUSED_BY_STAFF, cancel, pause, resume
from service.config import Settings
from service.mail.backends import classify_reply
from service.mail.sending_config import SETTINGS_KEY, SendingConfig, get_sending_config
from service.model import RelayProbe, utcnow
from tests.unit.campaigns.test_campaign_states import new_campaign, reloaded, seed


@pytest.mark.parametrize(
    ("code", "reply", "kind"),
    [
        (421, "4.3.2 too busy, come back later", TRANSIENT),
        (451, "4.7.1 greylisted, try again later", TRANSIENT),
        (None, "timed out", TRANSIENT),  # no reply at all: a timeout, a refused connection
        (552, "5.2.2 mailbox full", TRANSIENT),
        (535, "5.7.8 authentication credentials invalid", PERMANENT),
        (535, "authentication failed", PERMANENT),
        (550, "5.7.26 unauthenticated email is not accepted", PERMANENT),
        (554, "5.7.1 client host blocked", PERMANENT),
    ],
)
def test_the_brake_tells_a_fault_that_passes_from_one_that_needs_a_person(
    code: int | None, reply: str, kind: str
) -> None:
    error = classify_reply(code, reply.encode())
    assert classify(error.code, error.enhanced) == kind


def test_probes_wait_twice_as_long_each_time_up_to_the_cap() -> None:
    config = SendingConfig(probe_base_seconds=15, probe_max_seconds=600)
    waits = [probe_delay(n, config) for n in range(1, 9)]
    assert waits == [15, 30, 60, 120, 240, 480, 600, 600]


def braked(session: Session, settings: Settings, **config: object) -> int:
    """A running campaign the brake just paused for a transient fault, its probe due now."""
    set_setting(session, SETTINGS_KEY, {"probe_base_seconds": 1, **config})
    seed(session)
    cid = new_campaign(session, settings)
    start(session, settings, cid)
    pause(
        session,
        cid,
        brake_reason(5, "421 4.3.2 too busy"),
        probe_due_at=utcnow() - timedelta(seconds=1),
    )
    session.commit()
    return cid


def test_an_answering_relay_resumes_the_campaign_and_the_probe_is_kept(
    session: Session, settings: Settings
) -> None:
    cid = braked(session, settings)
    [result] = probe_due(session, settings)  # the test settings send to the capture
    assert result.ok and result.resumed and result.attempt == 1
    campaign = reloaded(session, cid)
    assert campaign.status == "running" and campaign.probe_due_at is None
    assert campaign.status_code == "campaign.resumed_after_probe"
    probes = session.scalars(select(RelayProbe).where(RelayProbe.campaign_id == cid)).all()
    assert [(p.attempt, p.ok) for p in probes] == [(1, True)]
    assert probe_due(session, settings) == []  # nothing is probed twice


def test_a_probe_that_fails_schedules_the_next_one_later_and_the_last_gives_up(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = braked(session, settings, probe_max_attempts=2)
    monkeypatch.setattr(healing, "probe_relay", _refusing("421 4.3.2 still busy"))
    [first] = probe_due(session, settings)
    campaign = reloaded(session, cid)
    assert not first.ok and campaign.status == "paused"
    assert campaign.probe_attempts == 1 and campaign.probe_due_at is not None
    probed_at = session.scalar(select(RelayProbe.at).where(RelayProbe.campaign_id == cid))
    assert probed_at is not None
    # The second probe waits twice as long as the first (1 s here).
    assert 2 <= (campaign.probe_due_at - probed_at).total_seconds() < 3
    assert probe_due(session, settings) == []  # not due yet
    campaign.probe_due_at = utcnow() - timedelta(seconds=1)
    session.commit()
    [second] = probe_due(session, settings)
    campaign = reloaded(session, cid)
    assert second.attempt == 2 and campaign.status == "paused" and campaign.probe_due_at is None
    assert campaign.status_code == "campaign.probes_gave_up"
    assert "2 probes" in campaign.status_reason and "still busy" in campaign.status_reason


def test_a_probe_refused_for_good_stops_probing(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = braked(session, settings)
    monkeypatch.setattr(healing, "probe_relay", _refusing("535 5.7.8 authentication failed"))
    [result] = probe_due(session, settings)
    campaign = reloaded(session, cid)
    assert not result.ok and campaign.status == "paused" and campaign.probe_due_at is None
    assert campaign.status_code == "campaign.probe_refused"


def test_a_person_resuming_or_cancelling_ends_the_probes(
    session: Session, settings: Settings
) -> None:
    cid = braked(session, settings)
    resume(session, cid)
    pause(session, cid, PAUSED_BY_STAFF)
    session.commit()
    assert reloaded(session, cid).probe_due_at is None
    assert probe_due(session, settings) == []
    assert reloaded(session, cid).status == "paused"
    other = _braked_again(session, settings)
    cancel(session, other)
    session.commit()
    assert probe_due(session, settings) == []
    assert reloaded(session, other).status == "cancelled"


def _braked_again(session: Session, settings: Settings) -> int:
    cid = new_campaign(session, settings)
    start(session, settings, cid)
    pause(session, cid, brake_reason(5, "timed out"), probe_due_at=utcnow())
    session.commit()
    return cid


def test_a_person_who_pauses_while_the_probe_is_out_wins_over_its_answer(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = braked(session, settings)

    def a_person_acts_meanwhile(*_args: object) -> str:
        resume(session, cid)
        pause(session, cid, PAUSED_BY_STAFF)
        session.commit()
        return "relay: 250 OK"

    monkeypatch.setattr(healing, "probe_relay", a_person_acts_meanwhile)
    [result] = probe_due(session, settings)
    assert result.ok and not result.resumed
    campaign = reloaded(session, cid)
    assert campaign.status == "paused" and campaign.status_code == "campaign.paused_by_staff"


def test_a_campaign_that_resumed_by_itself_often_enough_waits_for_a_person(
    session: Session, settings: Settings
) -> None:
    cid = braked(session, settings, max_auto_resumes=1)
    config = get_sending_config(session)
    assert healing.first_probe_at(session, cid, config) is not None
    probe_due(session, settings)  # resumes it once
    assert healing.first_probe_at(session, cid, config) is None
    off = SendingConfig(probe_max_attempts=0)
    assert healing.first_probe_at(session, cid, off) is None


def _refusing(reply: str) -> Callable[..., str]:
    """A probe the relay answers with ``reply`` (e.g. ``"421 4.3.2 busy"``)."""

    def probe(*_args: object) -> str:
        raise classify_reply(int(reply[:3]), reply[4:].encode())

    return probe


def test_a_probe_whose_process_died_falls_due_again_after_its_lease(
    session: Session, settings: Settings
) -> None:
    cid = braked(session, settings)
    due = reloaded(session, cid).probe_due_at
    assert due is not None
    lease = healing._take(session, cid, due, 1)  # ... and then its process died
    assert lease is not None and lease > utcnow() + timedelta(seconds=60)
    assert healing._take(session, cid, due, 1) is None  # taken once only
    assert probe_due(session, settings) == []
    campaign = reloaded(session, cid)
    campaign.probe_due_at = utcnow() - timedelta(seconds=1)  # the lease ran out
    session.commit()
    [result] = probe_due(session, settings)
    assert result.attempt == 2 and result.resumed
