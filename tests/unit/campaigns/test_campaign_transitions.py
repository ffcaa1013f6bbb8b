"""The campaign state machine's table: it draws DESIGN §4, and every action allows exactly
the states the table names for it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from service.campaigns import campaign_states, engine
from service.campaigns.campaign_states import (
    CANCEL,
    FINISH,
    PAUSE,
    RESEND_UNKNOWN,
    RESUME,
    SCHEDULE,
    START,
    TRANSITIONS,
    UNSCHEDULE,
    CampaignTransition,
)
from service.campaigns.drafts import create_campaign
from service.campaigns.service import (
    TransitionError,
    cancel,
    finish,
    pause,
    resend_unknown,
    resume,
    schedule,
    unschedule,
)
from service.config import Settings
from service.model import Campaign, CampaignStatus, MailingList, utcnow

C = CampaignStatus


def test_the_table_draws_the_diagram_of_design_4() -> None:
    # draft → scheduled → running ⇄ paused → finished; draft|scheduled|running|paused →
    # cancelled; finished → running only by "resend unknown"; a schedule may be moved and
    # taken back.
    edges = {(s, t.target, t.name) for t in TRANSITIONS for s in t.sources}
    assert edges == {
        (C.DRAFT, C.SCHEDULED, "schedule"),
        (C.SCHEDULED, C.SCHEDULED, "schedule"),
        (C.SCHEDULED, C.DRAFT, "unschedule"),
        (C.DRAFT, C.RUNNING, "start"),
        (C.SCHEDULED, C.RUNNING, "start"),
        (C.RUNNING, C.PAUSED, "pause"),
        (C.PAUSED, C.RUNNING, "resume"),
        (C.RUNNING, C.FINISHED, "finish"),
        *((s, C.CANCELLED, "cancel") for s in (C.DRAFT, C.SCHEDULED, C.RUNNING, C.PAUSED)),
        (C.FINISHED, C.RUNNING, "resend unknown"),
    }


def test_the_table_lists_every_transition_of_the_module_once() -> None:
    defined = [v for v in vars(campaign_states).values() if isinstance(v, CampaignTransition)]
    assert sorted(t.name for t in TRANSITIONS) == sorted(t.name for t in defined)
    assert len({t.name for t in TRANSITIONS}) == len(TRANSITIONS)


def test_a_new_campaign_is_a_draft_and_nothing_leaves_cancelled() -> None:
    assert [t.target for t in TRANSITIONS if not t.sources] == [C.DRAFT]
    assert [t.name for t in TRANSITIONS if C.CANCELLED in t.accepted] == []


def test_finished_is_left_only_by_resend_unknown() -> None:
    assert [t.name for t in TRANSITIONS if C.FINISHED in t.accepted] == [RESEND_UNKNOWN.name]
    assert RESEND_UNKNOWN.keeps == (C.RUNNING, C.PAUSED)


def _start(session: Session, settings: Settings, cid: int) -> None:
    engine.start(session, settings, cid)


def _schedule(session: Session, settings: Settings, cid: int) -> None:
    schedule(session, cid, utcnow() + timedelta(days=1))


def _plain(action: Callable[[Session, int], object]) -> Callable[[Session, Settings, int], None]:
    def run(session: Session, _settings: Settings, cid: int) -> None:
        action(session, cid)

    return run


ACTIONS = [
    (SCHEDULE, _schedule),
    (UNSCHEDULE, _plain(unschedule)),
    (START, _start),
    (PAUSE, _plain(pause)),
    (RESUME, _plain(resume)),
    (FINISH, _plain(finish)),
    (CANCEL, _plain(cancel)),
    (RESEND_UNKNOWN, _plain(resend_unknown)),
]


@pytest.mark.parametrize(("transition", "action"), ACTIONS, ids=[t.name for t, _ in ACTIONS])
def test_an_action_is_allowed_in_exactly_the_states_its_transition_names(
    session: Session,
    settings: Settings,
    transition: CampaignTransition,
    action: Callable[[Session, Settings, int], None],
) -> None:
    session.add(MailingList(slug="one", name="One"))
    session.flush()
    for status in CampaignStatus:
        campaign = create_campaign(
            session, settings, lists=["one"], body_html="<p>x</p>", subject="S"
        )
        cid = campaign.id
        session.execute(update(Campaign).where(Campaign.id == cid).values(status=status))
        session.commit()
        if transition.allows(status):
            action(session, settings, cid)
            session.commit()
            expected = transition.target if status in transition.sources else status
        else:
            with pytest.raises(TransitionError):
                action(session, settings, cid)
            session.rollback()
            expected = status
        session.expire_all()
        now = session.get(Campaign, cid)
        assert now is not None and (status, now.status) == (status, expected)
