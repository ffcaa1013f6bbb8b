"""The delivery state machine: the table of named moves itself, and the guarded statements
it builds."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from service.campaigns.drafts import create_campaign
from service.config import Settings
from service.model import Delivery, DeliveryStatus, MailingList, utcnow
from service.model import delivery_states as states
from service.model.delivery_states import (
    CANCEL,
    CLAIM,
    DISPATCH,
    DROP_RESERVED,
    MOVES,
    RECORD,
    RELEASE,
    RESEND,
    RESERVE,
    SETTLE_SENT,
    SWEEP_SENDING,
    TERMINAL,
    DeliveryMove,
    moved,
    moved_each,
    removed,
)

S = DeliveryStatus
# What events make of a row that was sent.
EVENT_STATES = {S.BOUNCED_SOFT, S.BOUNCED_HARD, S.COMPLAINED}


def _sql(statement: ClauseElement) -> str:
    return str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_the_table_lists_every_move_of_the_module_once() -> None:
    defined = [v for v in vars(states).values() if isinstance(v, DeliveryMove)]
    assert sorted(m.name for m in MOVES) == sorted(m.name for m in defined)
    assert len({m.name for m in MOVES}) == len(MOVES)


def test_no_move_leaves_a_terminal_state() -> None:
    assert [m.name for m in MOVES if TERMINAL & set(m.sources)] == []


def test_no_move_goes_from_a_state_to_itself() -> None:
    assert [m.name for m in MOVES if set(m.sources) & set(m.targets)] == []


def test_every_state_is_reached_from_a_new_row() -> None:
    reached = {t for m in MOVES if not m.sources for t in m.targets}
    grew = True
    while grew:
        more = {t for m in MOVES if reached & set(m.sources) for t in m.targets}
        grew = not more <= reached
        reached |= more
    assert reached == set(DeliveryStatus)


def test_the_claim_is_the_only_way_into_sending() -> None:
    assert [m.name for m in MOVES if S.SENDING in m.targets] == [CLAIM.name]


def test_only_the_send_core_and_its_marks_record_a_row_as_sent_or_failed() -> None:
    # The sweep writes `sent` only from the dead worker's own mark that the relay accepted.
    assert [m.name for m in MOVES if S.FAILED in m.targets] == [RECORD.name]
    assert [m.name for m in MOVES if S.SENT in m.targets] == [RECORD.name, SETTLE_SENT.name]


def test_an_unknown_row_goes_back_to_pending_only_when_staff_resend_it() -> None:
    # Otherwise an unknown row only takes what proves its message left: a bounce or a
    # complaint. Nothing sends it again by itself (DESIGN §4).
    leaving = [m for m in MOVES if S.UNKNOWN in m.sources]
    assert [m.name for m in leaving if set(m.targets) - EVENT_STATES] == [RESEND.name]
    assert [m.name for m in MOVES if S.UNKNOWN in m.targets] == [SWEEP_SENDING.name]


def test_a_bounce_or_complaint_moves_only_a_row_whose_message_left() -> None:
    for move in MOVES:
        if EVENT_STATES & set(move.targets):
            assert set(move.sources) <= {S.SENT, S.UNKNOWN, S.BOUNCED_SOFT}, move.name


def test_a_move_is_one_update_guarded_by_its_sources() -> None:
    sql = _sql(moved(CANCEL, Delivery.campaign_id == 7, last_error="campaign cancelled"))
    assert sql.startswith("UPDATE deliveries SET status='skipped'")
    assert "WHERE deliveries.status IN ('reserved', 'pending', 'queued', 'retry_due')" in sql
    assert "deliveries.campaign_id = 7" in sql


def test_a_move_out_of_retry_due_waits_for_its_time() -> None:
    with pytest.raises(ValueError, match="needs the time"):
        DISPATCH.guard()
    sql = _sql(moved(DISPATCH, now=utcnow()))
    assert "deliveries.status = 'pending' OR deliveries.status = 'retry_due' AND" in sql
    assert "deliveries.next_attempt_at <=" in sql


def test_a_move_refuses_a_target_it_does_not_name() -> None:
    with pytest.raises(ValueError, match="cannot end in 'sent'"):
        moved(RELEASE, to=S.SENT)
    with pytest.raises(ValueError, match="name one"):
        moved(RECORD)
    with pytest.raises(ValueError, match="keeps its rows"):
        removed(CANCEL)
    with pytest.raises(ValueError, match="makes new rows"):
        moved(RESERVE)
    assert "status='skipped'" in _sql(moved(RELEASE, to=S.SKIPPED))


def test_only_a_move_that_ends_rows_deletes_them() -> None:
    sql = _sql(removed(DROP_RESERVED, Delivery.campaign_id == 3))
    assert sql == (
        "DELETE FROM deliveries WHERE deliveries.status = 'reserved' AND deliveries.campaign_id = 3"
    )


def test_the_record_of_many_rows_takes_each_target_from_its_parameters() -> None:
    statement = moved_each(RECORD, attempts=1)
    sql = str(statement.compile(dialect=sqlite.dialect()))
    assert "status=?" in sql and "WHERE deliveries.status = ?" in sql
    assert RECORD.sql_guard("d.status") == "d.status = 'sending'"
    assert CANCEL.sql_guard("x") == "x IN ('reserved', 'pending', 'queued', 'retry_due')"


def test_a_late_move_changes_nothing(session: Session, settings: Settings) -> None:
    session.add(MailingList(slug="one", name="One"))
    session.flush()
    campaign = create_campaign(session, settings, lists=["one"], body_html="<p>x</p>", subject="S")
    session.execute(
        insert(Delivery),
        [
            {"campaign_id": campaign.id, "email": "a@example.org", "status": S.SENT},
            {"campaign_id": campaign.id, "email": "b@example.org", "status": S.SENDING},
        ],
    )
    ours = Delivery.campaign_id == campaign.id
    # The sweep passes the row the send core recorded meanwhile; a cancel coming after both
    # finds nothing left that has not gone out.
    assert session.execute(moved(SWEEP_SENDING, ours)).rowcount == 1  # type: ignore[attr-defined]
    assert session.execute(moved(CANCEL, ours)).rowcount == 0  # type: ignore[attr-defined]
    rows = dict(session.execute(select(Delivery.email, Delivery.status)).all())
    assert rows == {"a@example.org": "sent", "b@example.org": "unknown"}
