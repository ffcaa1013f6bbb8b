"""A campaign with a segment: its count before start, its rows made at start from the
subscribers as they are then, and the one-click unsubscribe of its mail leaving exactly
the campaign's lists."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns import engine
from service.campaigns.drafts import create_campaign, edit_campaign
from service.campaigns.preflight import check_recipients
from service.campaigns.previews import render_message
from service.campaigns.recipients import NotARecipient, audience_count, reserve
from service.config import Settings
from service.model import (
    Campaign,
    Delivery,
    MailingList,
    Membership,
    Organisation,
    Subscriber,
)
from service.subscribers.organisation_names import name_key
from service.subscribers.segments import create_segment

COUNCIL = [{"kind": "org_level_in", "levels": ["理事单位"]}]


@pytest.fixture
def lists(session: Session) -> dict[str, MailingList]:
    """Three lists; campaigns here go to "members" and "board"."""
    rows = {slug: MailingList(slug=slug, name=slug) for slug in ("members", "board", "events")}
    session.add_all(rows.values())
    session.commit()
    return rows


def _person(
    session: Session, name: str, org: Organisation | None, on: list[MailingList]
) -> Subscriber:
    sub = Subscriber(
        email=f"{name}@example.org",
        email_ascii=f"{name}@example.org",
        name=name,
        organisation_id=org.id if org else None,
        attributes={},
    )
    session.add(sub)
    session.flush()
    for mailing_list in on:
        session.add(Membership(subscriber_id=sub.id, list_id=mailing_list.id, status="active"))
    session.commit()
    return sub


def _org(session: Session, name: str, level: str) -> Organisation:
    row = Organisation(name=name, name_key=name_key(name), level=level, attributes={})
    session.add(row)
    session.commit()
    return row


def _campaign(
    session: Session, settings: Settings, lists: dict[str, MailingList], segment_id: int | None
) -> int:
    campaign = create_campaign(
        session,
        settings,
        lists=["members", "board"],
        body_html='<p>理事会通知 <a href="https://example.org/a">议程</a></p>',
        subject="理事会通知",
        segment_id=segment_id,
    )
    session.commit()
    return campaign.id


def test_a_segmented_campaign_is_counted_and_made_from_the_subscribers_as_they_are_at_start(
    session: Session, settings: Settings, lists: dict[str, MailingList]
) -> None:
    council = _org(session, "大连数贸科技", "理事单位")
    member = _org(session, "ABC软件", "会员单位")
    members, board, events = lists["members"], lists["board"], lists["events"]
    li = _person(session, "li", council, [members, board])
    wang = _person(session, "wang", council, [board])
    zhao = _person(session, "zhao", member, [members])
    _person(session, "qian", council, [events])  # matches, but on none of the lists
    _person(session, "sun", None, [members])
    segment = create_segment(session, "理事单位", COUNCIL)
    session.commit()
    cid = _campaign(session, settings, lists, segment.id)

    recipients, first = check_recipients(session, session.get(Campaign, cid))  # type: ignore[arg-type]
    assert recipients.detail.params["recipients"] == 2 and first == "li@example.org"
    assert audience_count(session, [members.id, board.id]) == 4  # without it
    with pytest.raises(NotARecipient):
        reserve(session, cid, zhao.id)

    # After creation, before start: ABC becomes a 理事单位 and wang's company is unknown.
    member.level = "理事单位"
    session.get(Subscriber, wang.id).organisation_id = None  # type: ignore[union-attr]
    session.commit()
    engine.start(session, settings, cid)
    engine.materialize_running(session)

    got = set(session.scalars(select(Delivery.subscriber_id).where(Delivery.campaign_id == cid)))
    assert got == {li.id, zhao.id}
    session.expire_all()
    assert session.get(Campaign, cid).recipients_total == 2  # type: ignore[union-attr]


def test_a_draft_can_take_a_segment_and_drop_it_again(
    session: Session, settings: Settings, lists: dict[str, MailingList]
) -> None:
    council = _org(session, "大连数贸科技", "理事单位")
    _person(session, "li", council, [lists["members"]])
    _person(session, "sun", None, [lists["members"]])
    segment = create_segment(session, "理事单位", COUNCIL)
    session.commit()
    cid = _campaign(session, settings, lists, None)
    edit = {"subject": "理事会通知", "preheader": "", "lists": ["members"]}

    edit_campaign(session, cid, **edit, segment_id=segment.id)  # type: ignore[arg-type]
    session.commit()
    assert check_recipients(session, session.get(Campaign, cid))[0].detail.params == {  # type: ignore[arg-type]
        "recipients": 1,
        "suppressed": 0,
    }
    edit_campaign(session, cid, **edit)  # type: ignore[arg-type]
    session.commit()
    assert session.get(Campaign, cid).segment_id == segment.id  # type: ignore[union-attr]
    edit_campaign(session, cid, **edit, segment_id=None)  # type: ignore[arg-type]
    session.commit()
    session.expire_all()
    assert session.get(Campaign, cid).segment_id is None  # type: ignore[union-attr]


def test_one_click_unsubscribe_from_a_segmented_campaign_leaves_exactly_its_lists(
    app: Flask, session: Session, settings: Settings, lists: dict[str, MailingList]
) -> None:
    council = _org(session, "大连数贸科技", "理事单位")
    reader = _person(session, "li", council, list(lists.values()))
    segment = create_segment(session, "理事单位", COUNCIL)
    session.commit()
    cid = _campaign(session, settings, lists, segment.id)
    engine.start(session, settings, cid)
    engine.materialize_running(session)

    # The header of the very message this reader is sent.
    message = message_from_bytes(
        render_message(session, settings, cid, reader.email), policy=policy.default
    )
    # (No List-Unsubscribe-Post here: the test's base URL is http; the POST is the same.)
    match = re.search(r"<https?://[^/>]+(/unsubscribe/[^>]+)>", str(message["List-Unsubscribe"]))
    assert match, message["List-Unsubscribe"]
    bare = app.test_client(use_cookies=False)  # a mailbox provider's POST: nothing else
    resp = bare.post(
        match.group(1),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert resp.status_code == 200 and "Location" not in resp.headers
    session.expire_all()
    states = dict(
        session.execute(
            select(MailingList.slug, Membership.status)
            .join(Membership, Membership.list_id == MailingList.id)
            .where(Membership.subscriber_id == reader.id)
        ).all()
    )
    assert states == {"members": "unsubscribed", "board": "unsubscribed", "events": "active"}
