"""Segment conditions: each kind selects whom it says (on the real database), and bad
conditions are refused with a message that names the condition and what is wrong."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import (
    Campaign,
    Delivery,
    Engagement,
    MailingList,
    Membership,
    Organisation,
    Subscriber,
    utcnow,
)
from service.subscribers import segments
from service.subscribers.organisation_names import name_key
from service.subscribers.segments import SegmentError, check_conditions


@pytest.fixture
def people(session: Session) -> dict[str, Subscriber]:
    """Five members of one list: two at a 理事单位, one at a 会员单位, one at a company of
    no level, one with no organisation."""
    members = MailingList(slug="members", name="会员")
    council = Organisation(name="大连数贸科技", name_key=name_key("大连数贸科技"), level="理事单位")
    ordinary = Organisation(
        name="ABC软件", name_key=name_key("ABC软件"), level="会员单位", attributes={"区": "高新"}
    )
    unknown = Organisation(name="无级别公司", name_key=name_key("无级别公司"), level="")
    session.add_all([members, council, ordinary, unknown])
    session.flush()
    spec = {
        "li": (council, {"城市": "大连"}),
        "wang": (council, {"城市": "沈阳"}),
        "zhao": (ordinary, {"城市": "大连"}),
        "qian": (unknown, {}),
        "sun": (None, {"城市": "大连"}),
    }
    out = {}
    for name, (org, attributes) in spec.items():
        sub = Subscriber(
            email=f"{name}@example.org",
            email_ascii=f"{name}@example.org",
            organisation_id=org.id if org else None,
            attributes=attributes,
        )
        session.add(sub)
        session.flush()
        session.add(Membership(subscriber_id=sub.id, list_id=members.id, status="active"))
        out[name] = sub
    session.commit()
    return out


def _who(session: Session, conditions: list[dict[str, Any]]) -> set[str]:
    checked = check_conditions(conditions)
    rows = session.scalars(select(Subscriber.email).where(segments.matches(checked)))
    return {email.split("@")[0] for email in rows}


def _sent(
    session: Session, subscriber: Subscriber, ago_days: int, *, opened: bool = False, **kw: Any
) -> Delivery:
    """A campaign message that reached ``subscriber`` ``ago_days`` ago, opened or not
    (``machine_open``: opened only by a machine; ``clicked``: a human click)."""
    campaign = Campaign(subject=f"c{ago_days}", from_addr="news@example.org", status="finished")
    session.add(campaign)
    session.flush()
    at = utcnow() - timedelta(days=ago_days)
    row = Delivery(
        campaign_id=campaign.id,
        subscriber_id=subscriber.id,
        email=subscriber.email,
        status=kw.get("status", "sent"),
        sent_at=at,
    )
    session.add(row)
    session.flush()
    for kind, machine, wanted in (
        ("open", False, opened),
        ("open", True, kw.get("machine_open", False)),
        ("click", False, kw.get("clicked", False)),
    ):
        if wanted:
            session.add(
                Engagement(
                    campaign_id=campaign.id,
                    delivery_id=row.id,
                    type=kind,
                    machine=machine,
                    count=1,
                    first_at=at,
                    last_at=at,
                )
            )
    session.commit()
    return row


def test_organisation_level_is_one_of_selects_the_people_of_those_organisations(
    session: Session, people: dict[str, Subscriber]
) -> None:
    assert _who(session, [{"kind": "org_level_in", "levels": ["理事单位"]}]) == {"li", "wang"}
    both = [{"kind": "org_level_in", "levels": ["理事单位", "会员单位"]}]
    assert _who(session, both) == {"li", "wang", "zhao"}


def test_organisation_level_is_not_one_of_includes_people_without_a_level_or_organisation(
    session: Session, people: dict[str, Subscriber]
) -> None:
    not_council = [{"kind": "org_level_not_in", "levels": ["理事单位"]}]
    assert _who(session, not_council) == {"zhao", "qian", "sun"}


def test_organisation_name_contains_matches_the_folded_name(
    session: Session, people: dict[str, Subscriber]
) -> None:
    # Full-width ＡＢＣ and lower case fold to the stored name's key.
    assert _who(session, [{"kind": "org_name_contains", "text": "ａｂｃ"}]) == {"zhao"}
    assert _who(session, [{"kind": "org_name_contains", "text": "数贸"}]) == {"li", "wang"}
    assert _who(session, [{"kind": "org_name_contains", "text": "%"}]) == set()


def test_subscriber_attribute_equals_compares_the_stored_text(
    session: Session, people: dict[str, Subscriber]
) -> None:
    dalian = [{"kind": "attribute_equals", "key": "城市", "value": "大连"}]
    assert _who(session, dalian) == {"li", "zhao", "sun"}
    assert _who(session, [{"kind": "attribute_equals", "key": "城市", "value": "大"}]) == set()


def test_organisation_attribute_equals_selects_the_people_of_matching_organisations(
    session: Session, people: dict[str, Subscriber]
) -> None:
    high_tech = [{"kind": "org_attribute_equals", "key": "区", "value": "高新"}]
    assert _who(session, high_tech) == {"zhao"}


def test_has_and_has_no_organisation_split_everyone(
    session: Session, people: dict[str, Subscriber]
) -> None:
    assert _who(session, [{"kind": "has_organisation"}]) == {"li", "wang", "zhao", "qian"}
    assert _who(session, [{"kind": "no_organisation"}]) == {"sun"}


def test_all_conditions_must_hold(session: Session, people: dict[str, Subscriber]) -> None:
    both: list[dict[str, Any]] = [
        {"kind": "org_level_in", "levels": ["理事单位"]},
        {"kind": "attribute_equals", "key": "城市", "value": "大连"},
    ]
    assert _who(session, both) == {"li"}
    assert _who(session, []) == set(people)


def test_opened_none_of_the_last_two_looks_only_at_the_last_two_messages_that_reached_them(
    session: Session, people: dict[str, Subscriber]
) -> None:
    # li opened the newest; wang opened only the third newest (outside the window);
    # zhao's newest was opened only by a machine; qian opened a message that bounced.
    _sent(session, people["li"], 1, opened=True)
    _sent(session, people["li"], 2)
    _sent(session, people["wang"], 1)
    _sent(session, people["wang"], 2)
    _sent(session, people["wang"], 3, opened=True)
    _sent(session, people["zhao"], 1, machine_open=True)
    _sent(session, people["qian"], 1, opened=True, status="bounced_hard")
    _sent(session, people["qian"], 2)
    _sent(session, people["qian"], 3)
    none = [{"kind": "opened_none", "last": 2}]
    # sun was sent nothing: none of their last two were opened.
    assert _who(session, none) == {"wang", "zhao", "qian", "sun"}
    assert _who(session, [{"kind": "opened_any", "last": 2}]) == {"li"}
    assert _who(session, [{"kind": "opened_any", "last": 3}]) == {"li", "wang"}


def test_clicked_none_of_the_last_n_counts_human_clicks(
    session: Session, people: dict[str, Subscriber]
) -> None:
    _sent(session, people["li"], 1, clicked=True)
    _sent(session, people["wang"], 1, opened=True)
    _sent(session, people["wang"], 2, clicked=True)
    clicked_none = [{"kind": "clicked_none", "last": 1}]
    assert _who(session, clicked_none) == {"wang", "zhao", "qian", "sun"}
    assert "wang" not in _who(session, [{"kind": "clicked_none", "last": 2}])


def test_count_is_the_matching_mailable_members_of_open_lists(
    session: Session, people: dict[str, Subscriber]
) -> None:
    council = [{"kind": "org_level_in", "levels": ["理事单位"]}]
    assert segments.count(session, check_conditions(council)) == 2
    people["wang"].status = "unsubscribed"
    session.commit()
    assert segments.count(session, check_conditions(council)) == 1
    assert segments.count(session, check_conditions(council), list_ids=[]) == 0


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        ({"kind": "has_organisation"}, "segment.not_a_list", "JSON list"),
        (["x"], "segment.not_an_object", "condition 1"),
        ([{"kind": "opened_some"}], "segment.unknown_kind", "unknown kind 'opened_some'"),
        ([{}], "segment.unknown_kind", "unknown kind ''"),
        ([{"kind": "org_level_in"}], "segment.missing_value", "levels is missing"),
        ([{"kind": "org_level_in", "levels": []}], "segment.missing_value", "levels"),
        ([{"kind": "org_level_in", "levels": ["董事"]}], "segment.unknown_level", "理事单位"),
        (
            [{"kind": "has_organisation"}, {"kind": "attribute_equals", "key": "城市"}],
            "segment.missing_value",
            "condition 2: value is missing",
        ),
        ([{"kind": "opened_none", "last": 0}], "segment.bad_last", "from 1 to 50"),
        ([{"kind": "opened_none", "last": "two"}], "segment.bad_last", "whole number"),
        ([{"kind": "opened_none", "last": True}], "segment.bad_last", "whole number"),
        ([{"kind": "no_organisation", "level": "x"}], "segment.unknown_field", "level"),
        ([{"kind": "org_name_contains", "text": ["a"]}], "segment.not_text", "not a list"),
        (
            [{"kind": "attribute_equals", "key": 'a"b', "value": "x"}],
            "segment.bad_key",
            "cannot contain",
        ),
    ],
)
def test_bad_conditions_are_refused_with_what_is_wrong(raw: Any, code: str, words: str) -> None:
    with pytest.raises(SegmentError) as caught:
        check_conditions(raw)
    assert caught.value.code == code
    assert words in str(caught.value)


def test_checked_conditions_are_cleaned() -> None:
    assert check_conditions(
        [
            {"kind": "org_level_in", "levels": " 理事单位 "},
            {"kind": "opened_none", "last": "2"},
            {"kind": "attribute_equals", "key": " 城市 ", "value": 7},
        ]
    ) == [
        {"kind": "org_level_in", "levels": ["理事单位"]},
        {"kind": "opened_none", "last": 2},
        {"kind": "attribute_equals", "key": "城市", "value": "7"},
    ]


def test_a_segment_used_by_an_unfinished_campaign_is_not_deleted(
    session: Session, people: dict[str, Subscriber]
) -> None:
    row = segments.create_segment(session, "理事", [{"kind": "has_organisation"}])
    draft = Campaign(subject="s", from_addr="news@example.org", segment_id=row.id)
    done = Campaign(subject="t", from_addr="news@example.org", segment_id=row.id)
    done.status = "finished"
    session.add_all([draft, done])
    session.commit()
    with pytest.raises(SegmentError) as caught:
        segments.delete_segment(session, row.id)
    assert caught.value.code == "segment.in_use" and f"#{draft.id}" in str(caught.value)
    draft.status = "cancelled"
    session.commit()
    segments.delete_segment(session, row.id)
    session.commit()
    assert session.get(Campaign, done.id).segment_id is None  # type: ignore[union-attr]
    assert segments.all_segments(session) == []


def test_segment_names_are_unique_and_needed(session: Session) -> None:
    segments.create_segment(session, "理事单位", [])
    with pytest.raises(SegmentError, match="already exists"):
        segments.create_segment(session, " 理事单位 ", [])
    with pytest.raises(SegmentError, match="needs a name"):
        segments.create_segment(session, "  ", [])
