"""The table of known provider replies, and what a refusal means with it (issue 17, 5)."""

from __future__ import annotations

import pytest

from service.events.policy import smtp_refusal_kind
from service.mail.backends import classify_reply, enhanced_code
from service.mail.provider_replies import (
    MEANINGS,
    NO_SUCH_USER,
    POLICY_BLOCK,
    REPLIES,
    SLOW_DOWN,
    SPAM_CONTENT,
    TEMPORARY,
    Reply,
    meaning_of,
)
from service.mail.providers import PROVIDERS


def _known(reply: str) -> Reply | None:
    """What the sender asks: the reply as the relay's error carries it."""
    error = classify_reply(int(reply[:3]), reply[4:])
    return meaning_of(error.code, error.enhanced, str(error))


@pytest.mark.parametrize("row", REPLIES, ids=lambda r: f"{r.provider}:{r.sample[:24]}")
def test_each_line_of_the_table_is_matched_by_its_own_sample_reply(row: Reply) -> None:
    assert row.sample and row.source, "every line has a sample and a source"
    assert row.meaning in MEANINGS and row.provider in PROVIDERS
    assert _known(row.sample) is row


@pytest.mark.parametrize(
    ("reply", "meaning"),
    [
        ("550 Ip frequency limited. http://service.mail.qq.com/cgi-bin/help", SLOW_DOWN),
        ("550 Domain frequency limited", SLOW_DOWN),
        ("421 4.7.0 Connection frequency limited, try later", SLOW_DOWN),
        ("451 MI:SFQ 163 smtp3,DdGowAB 1597632936 http://mail.163.com/help", SLOW_DOWN),
        ("451 RP:QRC 126 mx5,abc 1597632936", SLOW_DOWN),
        ("450 MI:DMC 163 mx2,abc", SLOW_DOWN),
        ("550 Mailbox unavailable or access denied", TEMPORARY),
        ("550 Mail content denied.", SPAM_CONTENT),
        (
            "554 DT:SPM 163 smtp5,jtKowAAnI4Cg 1528450981,please see http://mail.163.com",
            SPAM_CONTENT,
        ),
        ("550 MI:SPF 163 mx1,abc", POLICY_BLOCK),
        ("550 Mailbox not found.", NO_SUCH_USER),
        ("550 Invalid User", NO_SUCH_USER),
    ],
)
def test_known_provider_replies_are_classified_by_what_they_mean(reply: str, meaning: str) -> None:
    known = _known(reply)
    assert known is not None and known.meaning == meaning


@pytest.mark.parametrize(
    "reply",
    ["550 5.1.1 no such user here", "451 4.7.1 greylisted, try again later", "250 OK", ""],
)
def test_ordinary_replies_are_not_in_the_table(reply: str) -> None:
    code = int(reply[:3]) if reply else None
    assert meaning_of(code, enhanced_code(reply[4:]), reply) is None


def test_a_code_keeps_a_line_from_matching_the_same_words_under_another_code() -> None:
    # NetEase's DT:SPM is "retry in two minutes" as a 451 and a content refusal as a 554.
    temporary = _known("451 DT:SPM 163 mx9,abc,please try again")
    refused = _known("554 DT:SPM 163 mx9,abc")
    assert temporary is not None and temporary.meaning == TEMPORARY
    assert refused is not None and refused.meaning == SPAM_CONTENT


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        # A slow-down is never a bounce, whatever its code says.
        ("550 Sender frequency limited", None),
        ("550 RP:TRC 163 mx2,abc", None),
        # QQ's bare 550 for "too much mail to this recipient right now": not a bad address.
        ("550 Mailbox unavailable or access denied", None),
        # Provider replies that blame us or our content: a sender alert, not a bounce.
        ("550 MI:IMF 126 mx2,abc", "policy"),
        ("554 DT:SPM 126 smtp5,abc", "policy"),
        ("550 Mail content denied.", "policy"),
        # The recipient is gone: a hard bounce.
        ("550 Mailbox not found.", "hard"),
        ("550 Invalid User", "hard"),
        # Unknown texts keep the rules by code: 5.7.x policy apart from 5.1.1 no such user.
        ("550 5.7.1 Delivery not authorized, message refused", "policy"),
        ("550 5.1.1 The email account that you tried to reach does not exist", "hard"),
        ("550 no such user", "hard"),
    ],
)
def test_a_refusal_is_a_bounce_only_when_it_blames_the_address(
    reply: str, kind: str | None
) -> None:
    error = classify_reply(int(reply[:3]), reply[4:])
    assert smtp_refusal_kind(error.code, error.enhanced, str(error)) == kind
