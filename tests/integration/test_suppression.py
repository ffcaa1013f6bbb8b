"""The suppression list holds one row per address, even when two writers race."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.model import Suppression
from service.subscribers import suppression
from service.subscribers.suppression import is_suppressed, suppress, unsuppress
from service.web.app import get_db


def test_suppressing_twice_keeps_one_row_and_the_first_reason(session: Session) -> None:
    first = suppress(session, "a@example.org", "complaint", "arf")
    again = suppress(session, "A@Example.org", "unsubscribed", "one-click")
    session.commit()
    assert first.id == again.id and again.reason == "complaint"
    assert session.scalar(select(func.count(Suppression.id))) == 1


def test_reasons_are_found_for_the_addresses_as_given_across_chunks(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suppression, "LOOKUP_CHUNK", 2)
    suppress(session, "a@example.org", "complaint", "arf")
    suppress(session, "e@example.org", "hard_bounce", "smtp")
    session.commit()
    emails = [f"{c}@example.org" for c in "abcde"]
    assert suppression.suppressed_reasons(session, emails) == {
        "a@example.org": "complaint",
        "e@example.org": "hard_bounce",
    }
    assert suppression.suppressed_reasons(session, []) == {}


def test_a_racing_second_writer_finds_the_winners_row(
    app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer commits the same address between this writer's look and its insert:
    # the look is made to miss, the insert then hits the UNIQUE constraint for real.
    with get_db(app).session() as other:
        suppress(other, "race@example.org", "hard_bounce", "smtp")
        other.commit()
    real_scalar = session.scalar
    calls: list[object] = []

    def first_look_misses(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return None if len(calls) == 1 else real_scalar(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(session, "scalar", first_look_misses)
    row = suppress(session, "race@example.org", "unsubscribed", "one-click")
    session.commit()
    assert row.reason == "hard_bounce"
    assert len(calls) == 2  # the look, then the lookup after the constraint refused the insert
    assert session.execute(select(func.count(Suppression.id))).scalar() == 1


def test_unsuppress_removes_the_address(session: Session) -> None:
    suppress(session, "b@example.org", "manual", "admin")
    assert unsuppress(session, "b@example.org") and not is_suppressed(session, "b@example.org")
    assert not unsuppress(session, "b@example.org")
