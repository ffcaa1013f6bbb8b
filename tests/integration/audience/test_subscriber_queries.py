"""Finding subscribers (keyset pages, filters, counts), bulk actions, exports, erasure."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.mail.addresses import email_hash
from service.model import AuditEntry, Consent, MailingList, Membership, Subscriber, Suppression
from service.subscribers import bulk, export, personal, query
from service.subscribers.query import SubscriberFilter
from service.subscribers.suppression import suppress
from tests.integration.audience.conftest import run_import

NAMES = ["王立", "张敏", "Ann", "Bob", "", "刘洋", "Ann"]


@pytest.fixture
def crowd(session: Session, members: MailingList) -> list[Subscriber]:
    """137 subscribers with repeating names (ties), half of them on the list."""
    rng = random.Random(7)
    people = []
    for i in range(137):
        people.append(
            Subscriber(
                email=f"p{i:03d}@example.org",
                email_ascii=f"p{i:03d}@example.org",
                name=rng.choice(NAMES),
                organisation=f"Org {i % 9}",
                attributes={"city": "大连" if i % 3 == 0 else "沈阳"},
            )
        )
    session.add_all(people)
    session.flush()
    for person in people[::2]:
        session.add(Membership(subscriber_id=person.id, list_id=members.id, status="active"))
    session.commit()
    return people


def walk(session: Session, flt: SubscriberFilter, size: int = 10) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        result = query.page(session, flt, after=after, size=size)
        seen += [r.id for r in result.rows]
        if result.next_cursor is None:
            return seen
        after = result.next_cursor


@pytest.mark.parametrize("sort", list(query.SORTS))
@pytest.mark.parametrize("desc", [False, True])
def test_keyset_pages_cover_everyone_once_in_sorted_order(
    session: Session, crowd: list[Subscriber], sort: str, desc: bool
) -> None:
    flt = SubscriberFilter(sort=sort, desc=desc)
    ids = walk(session, flt)
    assert len(ids) == len(set(ids)) == len(crowd)
    by_id = {p.id: p for p in crowd}
    keys = [(getattr(by_id[i], sort), i) for i in ids]
    assert keys == sorted(keys, reverse=desc)


def test_previous_pages_lead_back_to_the_same_rows(
    session: Session, crowd: list[Subscriber]
) -> None:
    flt = SubscriberFilter(sort="name", desc=False)
    pages = []
    result = query.page(session, flt, size=10)
    pages.append([r.id for r in result.rows])
    for _ in range(3):
        result = query.page(session, flt, after=result.next_cursor, size=10)
        pages.append([r.id for r in result.rows])
    for expected in reversed(pages[:-1]):
        result = query.page(session, flt, before=result.prev_cursor, size=10)
        assert [r.id for r in result.rows] == expected
    assert result.prev_cursor is None  # back on the first page


def test_filters_search_list_status_and_attribute(
    session: Session, crowd: list[Subscriber], members: MailingList
) -> None:
    on_list = walk(session, SubscriberFilter(list_id=members.id, member_status="active"))
    assert sorted(on_list) == sorted(p.id for p in crowd[::2])
    dalian = walk(session, SubscriberFilter(attr_key="city", attr_value="大连"))
    assert sorted(dalian) == sorted(p.id for i, p in enumerate(crowd) if i % 3 == 0)
    found = walk(session, SubscriberFilter(q="p00"))
    assert len(found) == 10
    org8 = sorted(p.id for i, p in enumerate(crowd) if i % 9 == 8)
    assert sorted(walk(session, SubscriberFilter(q="Org 8"))) == org8  # starts with: indexed
    assert walk(session, SubscriberFilter(q="rg 8")) == []
    assert sorted(walk(session, SubscriberFilter(q="RG 8", anywhere=True))) == org8
    assert walk(session, SubscriberFilter(q="100%_")) == []
    assert query.count(session, SubscriberFilter()) == query.Count(137)
    assert query.count(session, SubscriberFilter(q="p0"), cap=50) == query.Count(50, capped=True)
    whole = query.count(session, SubscriberFilter(), cap=100)
    assert not whole.capped and (whole.n == 137 or whole.approximate)  # or PG's estimate
    assert not query.count(session, SubscriberFilter(attr_key="city")).counted


def test_an_attribute_with_a_chinese_key_filters_by_its_value_and_by_its_presence(
    session: Session,
) -> None:
    people = [
        Subscriber(email=f"{n}@example.org", email_ascii=f"{n}@example.org", attributes=a)
        for n, a in (("mfg", {"行业": "制造"}), ("fin", {"行业": "金融"}), ("none", {}))
    ]
    session.add_all(people)
    session.commit()
    mfg, fin, _ = (p.id for p in people)
    assert walk(session, SubscriberFilter(attr_key="行业", attr_value="制造")) == [mfg]
    assert sorted(walk(session, SubscriberFilter(attr_key="行业"))) == [mfg, fin]


def test_bulk_add_to_list_skips_suppressed_and_unsubscribed_people(
    session: Session, crowd: list[Subscriber], members: MailingList
) -> None:
    other = MailingList(slug="other", name="Other")
    session.add(other)
    crowd[1].status = "unsubscribed"
    suppress(session, crowd[3].email, "complaint", source="test")
    session.commit()
    changed = bulk.apply_bulk(
        session, "add_to_list", ids=[p.id for p in crowd[:5]], list_id=other.id, user_id=None
    )
    session.commit()
    assert changed == 3
    joined = set(
        session.scalars(select(Membership.subscriber_id).where(Membership.list_id == other.id))
    )
    assert joined == {crowd[0].id, crowd[2].id, crowd[4].id}
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action.like("subscribers.bulk%")))
    assert entry is not None and entry.detail["changed"] == 3


def test_bulk_actions_on_a_whole_filter_result_run_in_chunks(
    session: Session, crowd: list[Subscriber], members: MailingList, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "CHUNK", 7)
    chunks = []
    flt = SubscriberFilter(list_id=members.id)
    removed = bulk.apply_bulk(
        session, "remove_from_list", flt=flt, list_id=members.id, on_chunk=lambda: chunks.append(1)
    )
    session.commit()
    assert removed == 69 and len(chunks) == 10
    assert session.scalar(select(func.count()).select_from(Membership)) == 0
    gone = bulk.apply_bulk(
        session, "unsubscribe", flt=SubscriberFilter(attr_key="city", attr_value="大连")
    )
    session.commit()
    assert gone == 46
    assert session.scalar(select(func.count(Suppression.id))) == 46
    assert (
        session.scalar(select(func.count(Consent.id)).where(Consent.action == "unsubscribe_all"))
        == 46
    )
    gone = [crowd[0].id, crowd[1].id]
    evidence = session.scalar(select(func.count(Consent.id)).where(Consent.subscriber_id.in_(gone)))
    deleted = bulk.apply_bulk(session, "delete", ids=gone)
    session.commit()
    assert deleted == 2 and session.scalar(select(func.count(Subscriber.id))) == 135
    # Their consent rows stay, detached, as evidence (the log has no foreign key).
    assert evidence and not session.scalar(
        select(func.count(Consent.id)).where(Consent.subscriber_id.in_(gone))
    )
    assert session.scalar(select(func.count(Consent.id)).where(Consent.subscriber_id.is_(None)))
    with pytest.raises(bulk.BulkError):
        bulk.apply_bulk(session, "add_to_list", ids=[1])


def test_the_csv_export_has_a_bom_and_round_trips_through_the_import(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        'email,姓名,单位,城市\nwang@example.org,王立,"大连, 金慧",大连\nx@example.org,=1+2,,\n',
        "utf-8",
    )
    run_import(session, source, members)
    data = b"".join(export.csv_stream(session, SubscriberFilter(list_id=members.id)))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["email", "name", "organisation", "language"]
    assert "list_status" in rows[0] and "城市" in rows[0]
    assert rows[1][:3] == ["wang@example.org", "王立", "大连, 金慧"]
    assert rows[2][1] == "'=1+2"  # a formula would run in Excel: neutralised
    exported = tmp_path / "out.csv"
    exported.write_bytes(data)
    copy = MailingList(slug="copy", name="Copy")
    session.add(copy)
    session.commit()
    report = run_import(session, exported, copy)
    assert (report.added, report.errors) == (2, [])


def test_the_xlsx_export_opens_with_the_same_rows(
    session: Session, crowd: list[Subscriber], tmp_path: Path
) -> None:
    path = export.write_xlsx(session, SubscriberFilter(q="p01"), tmp_path / "x.xlsx")
    sheet = load_workbook(path, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "email" and len(rows) == 11
    assert {r[0] for r in rows[1:]} == {f"p01{i}@example.org" for i in range(10)}


def test_personal_data_export_and_erasure(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "p.csv"
    path.write_text("email,name,city\nmei@example.org,梅,大连\n", "utf-8")
    run_import(session, path, members)
    person = session.scalar(select(Subscriber))
    assert person is not None
    session.add(
        Consent(
            subscriber_id=person.id,
            list_id=members.id,
            action="confirm",
            source="form",
            ip="203.0.113.9",
            user_agent="Firefox",
            detail={"email": "mei@example.org"},
        )
    )
    session.commit()
    data = personal.personal_data(session, person)
    assert data["profile"]["name"] == "梅" and data["profile"]["attributes"] == {"city": "大连"}
    assert data["memberships"][0]["list"] == "members"
    assert {c["action"] for c in data["consents"]} == {"import", "confirm"}
    assert data["deliveries"] == [] and data["events"] == []
    personal.erase(session, person)
    session.commit()
    session.expire_all()
    assert person.email == f"erased-{person.id}@invalid" and person.name == ""
    assert person.attributes == {} and person.status == "erased"
    for consent in session.scalars(select(Consent)):
        assert consent.ip is None and consent.user_agent is None
        assert "email" not in consent.detail
    suppression = session.scalar(select(Suppression))
    assert suppression is not None
    assert (suppression.email, suppression.reason) == (None, "erased")
    assert suppression.email_hash == email_hash("mei@example.org")
    assert session.scalar(select(Membership.status)) == "unsubscribed"
