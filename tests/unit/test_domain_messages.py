"""Domain errors and notes as codes with parameters, and the one catalogue that says them
in the reader's language (issue 7)."""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import force_locale

from service.campaigns.brake import brake_reason
from service.campaigns.service import CampaignError, TransitionError
from service.config import load_settings
from service.errors import DomainError, Message
from service.mail.address_reasons import REASONS as ADDRESS_REASONS
from service.mail.addresses import InvalidAddress, normalise
from service.subscribers.tabular import BINARY_MAGICS
from service.web.app import create_app
from service.web.messages import MESSAGES, describe

ROOT = Path(__file__).resolve().parent.parent.parent
# A code as the first argument of a domain error or of Message.of, e.g.
# ``raise CampaignError("campaign.no_issue", ...)`` (the call may span lines).
CODE_AT_CALL = re.compile(
    r"(?:Error|InvalidAddress|ArticleNotFound|DuplicateIssue|IssueInUse|UnsendableFrom|NoSuchSubscriber"
    r"|Message\.of)"
    r"\(\s*\"([a-z_]+\.[a-z0-9_]+)\""
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    data = tmp_path_factory.mktemp("messages")
    settings = load_settings(
        {
            "TIDINGS_DATA_DIR": str(data),
            "TIDINGS_DATABASE_URL": f"sqlite:///{data / 'unused.db'}",
            "TIDINGS_SECRET_KEY": "unit-secret-key-0123456789",
        }
    )
    return create_app(test_config={"TESTING": True}, settings=settings)


@pytest.fixture
def zh(app: Flask) -> Iterator[None]:
    with app.test_request_context(), force_locale("zh"):
        yield


@pytest.fixture
def en(app: Flask) -> Iterator[None]:
    with app.test_request_context(), force_locale("en"):
        yield


def test_a_domain_error_keeps_its_english_text_code_and_parameters() -> None:
    error = CampaignError("campaign.no_issue", "there is no issue %(issue_id)s", issue_id=7)
    assert str(error) == error.message == "there is no issue 7"
    assert (error.code, dict(error.params)) == ("campaign.no_issue", {"issue_id": 7})
    assert isinstance(error, ValueError)  # callers that catch ValueError still do


def test_a_domain_error_survives_pickling_as_a_task_result_would() -> None:
    error = TransitionError(
        "campaign.missing", "there is no campaign %(campaign_id)s", campaign_id=3
    )
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is TransitionError
    assert (str(again), again.code, dict(again.params)) == (
        str(error),
        error.code,
        {"campaign_id": 3},
    )


def test_a_message_with_a_nested_message_is_stored_and_read_back_whole() -> None:
    with pytest.raises(InvalidAddress) as caught:
        normalise("")
    outer = Message.of(
        "campaign.start_failed", "could not start: %(error)s", error=caught.value.detail
    )
    assert outer.text == "could not start: the address is empty"
    assert Message.load(outer.dump()) == outer


def test_the_admin_says_a_campaign_error_in_chinese_and_names_the_issue(zh: None) -> None:
    error = CampaignError("campaign.no_issue", "there is no issue %(issue_id)s", issue_id=987654)
    assert describe(error) == "期刊 987654 不存在。"


def test_the_same_error_reads_in_english_for_an_english_reader(en: None) -> None:
    error = CampaignError("campaign.no_issue", "there is no issue %(issue_id)s", issue_id=987654)
    assert describe(error) == "There is no issue 987654."


def test_state_names_in_a_message_are_shown_by_their_label(zh: None) -> None:
    error = TransitionError(
        "campaign.bad_transition",
        "campaign %(campaign_id)s is %(status)s, cannot become %(new_status)s",
        campaign_id=4,
        status="finished",
        new_status="paused",
    )
    assert describe(error) == "群发 4 当前为“已完成”，不能改为“已暂停”。"


def test_a_nested_message_is_translated_with_its_parent(zh: None) -> None:
    with pytest.raises(InvalidAddress) as caught:
        normalise("")
    outer = Message.of(
        "campaign.start_failed", "could not start: %(error)s", error=caught.value.detail
    )
    assert describe(Message.load(outer.dump())) == "无法开始发送：地址为空。"


def test_the_relay_s_own_words_are_quoted_not_translated(zh: None) -> None:
    reason = brake_reason(5, "421 4.7.0 Try again later")
    assert (
        describe(reason) == "连续 5 次发送失败，已自动暂停。最后一次错误：421 4.7.0 Try again later"
    )


def test_an_unknown_code_or_a_plain_exception_shows_its_english_text(zh: None) -> None:
    assert (
        describe(DomainError("nobody.knows", "something odd happened")) == "something odd happened"
    )
    assert describe(LookupError("there is no subscriber x@example.org")) == (
        "there is no subscriber x@example.org"
    )
    assert describe(Message("", "free text written before codes existed")) == (
        "free text written before codes existed"
    )


def test_a_stored_message_whose_parameters_no_longer_fit_falls_back_to_its_text(zh: None) -> None:
    old = Message("campaign.error_brake", "paused automatically after 5 failures", {"n": 5})
    assert describe(old) == "paused automatically after 5 failures"


def test_every_code_the_domain_uses_has_a_sentence_in_the_catalogue() -> None:
    used = set()
    for path in (ROOT / "service").rglob("*.py"):
        used |= set(CODE_AT_CALL.findall(path.read_text(encoding="utf-8")))
    used |= {f"file.{kind}" for kind, _ in BINARY_MAGICS.values()}  # built as f"file.{kind}"
    used |= {reason.code for reason in ADDRESS_REASONS}  # the validator's sentences, read
    assert len(used) > 100  # the scan found the calls
    assert sorted(used - set(MESSAGES)) == []
    assert sorted(set(MESSAGES) - used) == []  # no sentence left behind by a removed error


def test_a_bad_sender_address_names_its_field_in_the_reader_s_language(zh: None) -> None:
    from service.campaigns.drafts import _sender_addresses

    with pytest.raises(CampaignError) as caught:
        _sender_addresses("news@example.org", "not an address")
    assert str(caught.value).startswith("Reply-To: ")
    shown = describe(caught.value)
    assert shown.startswith("回复地址：") and "Reply-To" not in shown
    with pytest.raises(CampaignError) as caught:
        _sender_addresses("", None)
    assert describe(caught.value) == "发件人地址：地址为空。"
    assert _sender_addresses("协会 <news@example.org>", None) == ("news@example.org", None)
