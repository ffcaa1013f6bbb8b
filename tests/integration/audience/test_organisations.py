"""Organisations from an import: one per folded company name, and their counts."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import MailingList, Organisation, Subscriber, SuppressionReason
from service.subscribers import organisations
from service.subscribers.importer import CHUNK_ROWS
from service.subscribers.personal import erase, update_profile
from service.subscribers.subscriptions import ConfirmOutcome, confirm, subscribe
from service.subscribers.suppression import suppress
from tests.integration.audience.conftest import run_import


def _orgs(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Organisation.id, Organisation.name)).all())


def _links(session: Session) -> dict[str, int | None]:
    return dict(session.execute(select(Subscriber.email, Subscriber.organisation_id)).all())


def test_a_company_column_makes_one_organisation_per_folded_name(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "会员.csv"
    path.write_text(
        "邮箱,姓名,单位\n"
        "a@example.org,甲,ＤＬ数贸科技有限公司\n"
        "b@example.org,乙,DL数贸科技有限公司\n"  # the same company, half-width
        "c@example.org,丙,dl数贸科技  有限公司\n"  # a space inside: another name
        "d@example.org,丁,DL数贸科技有限责任公司\n"  # another legal form
        "e@example.org,戊,\n",
        encoding="utf-8",
    )
    report = run_import(session, path, members)
    assert (report.added, report.errors) == (5, [])
    orgs = _orgs(session)
    links = _links(session)
    assert links["a@example.org"] == links["b@example.org"]
    assert orgs[links["a@example.org"]] == "ＤＬ数贸科技有限公司"  # the first spelling
    assert orgs[links["c@example.org"]] == "dl数贸科技 有限公司"
    assert orgs[links["d@example.org"]] == "DL数贸科技有限责任公司"
    assert links["e@example.org"] is None
    assert len(orgs) == 3


def test_a_later_import_reuses_the_organisation_and_upsert_moves_a_person(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("email,company\na@example.org,ACME Ltd\n", encoding="utf-8")
    run_import(session, first, members)
    second = tmp_path / "second.csv"
    second.write_text(
        "email,company\nb@example.org,ａｃｍｅ　ｌｔｄ\na@example.org,大连港集团有限公司\n",
        encoding="utf-8",
    )
    run_import(session, second, members, mode="upsert")
    orgs = {name: ident for ident, name in _orgs(session).items()}
    links = _links(session)
    assert links == {"a@example.org": orgs["大连港集团有限公司"], "b@example.org": orgs["ACME Ltd"]}


def test_counts_and_states_follow_memberships_and_suppressions(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "email,单位\n"
        + "".join(f"p{i}@example.org,大连数贸有限公司\n" for i in range(4))
        + "q@example.org,别的公司\n",
        encoding="utf-8",
    )
    run_import(session, path, members)
    suppress(session, "p1@example.org", SuppressionReason.HARD_BOUNCE, "test")
    suppress(session, "p2@example.org", SuppressionReason.MANUAL, "test")
    session.commit()
    org = session.scalar(select(Organisation).where(Organisation.name == "大连数贸有限公司"))
    assert org is not None
    [summary] = organisations.summaries(session, [org])
    assert (summary.contacts, summary.deliverable) == (4, 2)
    states = {
        c.subscriber.email: [s for _l, s in c.states]
        for c in organisations.contacts(session, org.id)
    }
    assert states == {
        "p0@example.org": ["subscribed"],
        "p1@example.org": ["bounced"],
        "p2@example.org": ["suppressed"],
        "p3@example.org": ["subscribed"],
    }


def test_chunks_written_side_by_side_agree_on_one_organisation(
    session: Session, members: MailingList, tmp_path: Path
) -> None:
    # On PostgreSQL two writers take the chunks: each meets the new company at once.
    rows = CHUNK_ROWS * 2 + 10
    spellings = ("新公司有限公司", "新公司有限公司　", "新公司有限公司 ")
    path = tmp_path / "many.csv"
    path.write_text(
        "email,单位\n" + "".join(f"m{i}@example.org,{spellings[i % 3]}\n" for i in range(rows)),
        encoding="utf-8",
    )
    assert run_import(session, path, members).added == rows
    [org_id] = _orgs(session)
    assert set(_links(session).values()) == {org_id}


def test_a_form_an_edit_and_an_erasure_keep_the_link_in_step(
    session: Session, members: MailingList
) -> None:
    result = subscribe(session, members, "f@example.org", "方", "  大连数贸有限公司 ")
    person = session.get(Subscriber, result.subscriber_id)
    # What a stranger typed makes no organisation until the address is confirmed.
    assert person is not None and person.organisation_id is None and _orgs(session) == {}
    assert result.confirm_token is not None
    assert confirm(session, result.confirm_token).outcome == ConfirmOutcome.CONFIRMED
    assert person.organisation_id is not None
    first = person.organisation_id
    update_profile(
        session,
        person,
        name="方",
        organisation="大连数贸有限责任公司",
        language="zh-CN",
        attributes=[],
    )
    assert person.organisation_id not in (None, first)
    erase(session, person)
    assert person.organisation_id is None
    session.commit()


def test_the_public_form_links_a_known_company_at_once_and_makes_no_new_one(
    session: Session, members: MailingList
) -> None:
    known = subscribe(session, members, "a@example.org", "甲", "大连数贸有限公司")
    assert known.confirm_token is not None
    confirm(session, known.confirm_token)
    spam = [f"Buy cheap pills {i} http://spam.example" for i in range(5)]
    for i, company in enumerate(spam):
        subscribe(session, members, f"victim{i}@example.org", "", company)
    assert sorted(_orgs(session).values()) == ["大连数贸有限公司"]
    second = subscribe(session, members, "b@example.org", "乙", "大连数贸有限公司")
    colleague = session.get(Subscriber, second.subscriber_id)
    assert colleague is not None and colleague.organisation_id in _orgs(session)
