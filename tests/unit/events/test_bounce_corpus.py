"""The bounce corpus (tests/data/bounces) parses to the classification in its manifest."""

from __future__ import annotations

import pytest

from service.events.bounces import Kind, Severity, classify, parse_report
from tests.integration.events.events_factories import CORPUS, manifest

CASES = sorted(manifest().items())


def _raw(name: str, rcpt: str) -> bytes:
    text = (CORPUS / name).read_text(encoding="utf-8")
    text = text.replace("@@VERP@@", "b+1.aaaaaaaaaa@example.org")
    text = text.replace("@@MSGID@@", "<c7.d1.0123456789ab@example.org>")
    return text.replace("@@RCPT_LOCAL@@", rcpt.split("@")[0]).replace("@@RCPT@@", rcpt).encode()


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_corpus_message_is_classified_as_its_manifest_says(name, expected):
    report = parse_report(_raw(name, expected["rcpt"]))
    assert report.kind == expected["kind"]
    if expected["severity"] is None:
        assert report.recipients == []
        return
    ours = [r for r in report.recipients if r.address == expected["rcpt"]]
    assert ours, report.recipients
    assert ours[0].severity == expected["severity"]
    assert ours[0].status == expected["status"]
    assert len(report.recipients) == expected.get("recipients", 1)


def test_the_corpus_covers_every_kind_and_severity():
    kinds = {e["kind"] for _, e in CASES}
    severities = {e["severity"] for _, e in CASES}
    assert kinds == {"dsn", "fallback", "complaint", "autoreply"}
    assert {"hard", "soft", "policy"} <= severities


def test_global_delivery_status_keeps_every_recipient_block_and_utf8_addresses():
    report = parse_report(_raw("global_dsn_utf8.eml", "用户@例子.中国"))
    assert [(r.address, r.action, r.status) for r in report.recipients] == [
        ("用户@例子.中国", "failed", "5.1.1"),
        ("同事@例子.中国", "delayed", "4.4.1"),
    ]
    assert "用户不存在" in report.recipients[0].diagnostic


def test_a_failed_action_with_a_4xx_status_is_soft_not_hard():
    assert classify("4.4.7", "failed") == Severity.SOFT


@pytest.mark.parametrize(
    ("status", "action", "diagnostic", "severity"),
    [
        ("5.1.1", "failed", "", Severity.HARD),
        ("5.1.10", "failed", "", Severity.HARD),
        ("5.2.2", "failed", "mailbox full", Severity.SOFT),
        ("5.7.26", "failed", "DMARC", Severity.POLICY),
        ("5.7.515", "failed", "", Severity.POLICY),
        ("4.2.2", "delayed", "", Severity.SOFT),
        ("5.1.1", "delayed", "", Severity.SOFT),
        ("2.0.0", "delivered", "", Severity.DELIVERED),
        ("", "failed", "550 user unknown", Severity.HARD),
        ("", "failed", "451 try later", Severity.SOFT),
        ("", "failed", "554 rejected: listed on a blocklist", Severity.POLICY),
        ("", "failed", "smtp; 550 5.1.1 no such user", Severity.HARD),
    ],
)
def test_status_codes_map_to_the_standards_table(status, action, diagnostic, severity):
    assert classify(status, action, diagnostic) == severity


def test_an_ordinary_reply_is_unknown_not_a_bounce():
    raw = b"From: a@example.net\r\nTo: news@example.org\r\nSubject: Re: hello\r\n\r\nThanks!\r\n"
    assert parse_report(raw).kind == Kind.UNKNOWN


def test_a_message_without_from_does_not_crash_the_fallback_detectors():
    # flufl.bounce's yale detector raises IndexError on such a message (found by a test).
    assert parse_report(b"Subject: hello\r\n\r\nnot a bounce\r\n").kind == Kind.UNKNOWN
