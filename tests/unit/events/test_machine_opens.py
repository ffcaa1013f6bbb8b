"""The table of machine-open patterns: each rule recognises the request its source
documents, browsers stay human, and every rule says where it comes from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.events.machine_opens import (
    LEGACY_REASONS,
    PREFETCH_AT_DELIVERY,
    PRIVACY_PROTECTION,
    PROXY_ON_OPEN,
    REASONS,
    RULES,
    SECURITY_SCANNER,
    agent_rule,
)
from service.events.tracking import machine_reason
from service.reports.opens import UNRECORDED
from service.web.labels import MACHINE_REASON_LABELS

SENT = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
HOURS_LATER = SENT + timedelta(hours=2)

# The User-Agent of each documented request, as its source quotes it.
DOCUMENTED = [
    ("Mozilla/5.0", "apple-mpp", PRIVACY_PROTECTION),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0",
        "prefetch:gmail",
        PREFETCH_AT_DELIVERY,
    ),
    (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        "image-proxy:gmail",
        PROXY_ON_OPEN,
    ),
    (
        "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
        "image-proxy:yahoo",
        PROXY_ON_OPEN,
    ),
]

# Agents of people reading mail, which no rule may take for a machine.
PEOPLE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0",
    "Mozilla/5.0 (Linux; Android 14; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36",
)


@pytest.mark.parametrize(("agent", "reason", "kind"), DOCUMENTED)
def test_each_documented_request_is_a_machine_open_with_its_reason_and_kind(agent, reason, kind):
    rule = agent_rule("open", agent)
    assert rule is not None and (rule.reason, rule.kind) == (reason, kind)
    assert machine_reason("open", agent, HOURS_LATER, SENT) == reason


def test_each_rule_with_a_sample_recognises_its_own_sample():
    for rule in RULES:
        if rule.sample:
            assert agent_rule(rule.hits[0], rule.sample) is rule


@pytest.mark.parametrize("agent", PEOPLE)
def test_people_reading_mail_hours_later_are_human(agent):
    assert machine_reason("open", agent, HOURS_LATER, SENT) is None


def test_mpp_and_the_gmail_prefetch_match_the_whole_agent_only():
    # Apple's agent is the bare product token; a browser that sends more is a person.
    assert machine_reason("open", "  Mozilla/5.0 ", HOURS_LATER, SENT) == "apple-mpp"
    assert machine_reason("open", "Mozilla/5.0 (X11; Linux x86_64)", HOURS_LATER, SENT) is None
    # A real Edge 12 agent (without Gmail's trailing "Mozilla/5.0") is not the prefetch.
    edge = DOCUMENTED[1][0].removesuffix(" Mozilla/5.0")
    assert machine_reason("open", edge, HOURS_LATER, SENT) is None


def test_a_named_security_gateway_is_a_scanner_for_opens_and_clicks():
    for hit in ("open", "click"):
        assert machine_reason(hit, "Mimecast-URL-Protect/1.0", HOURS_LATER, SENT) == "scanner"
    rule = agent_rule("open", "Barracuda Sentinel")
    assert rule is not None and rule.kind == SECURITY_SCANNER and not rule.verified


def test_generic_clients_are_scanners_for_clicks_but_not_for_opens():
    assert machine_reason("click", "python-requests/2.32.3", HOURS_LATER, SENT) == "scanner"
    assert machine_reason("open", "python-requests/2.32.3", HOURS_LATER, SENT) is None


def test_every_rule_names_a_source_and_a_known_kind():
    kinds = {PRIVACY_PROTECTION, PREFETCH_AT_DELIVERY, PROXY_ON_OPEN, SECURITY_SCANNER}
    for rule in RULES:
        assert rule.kind in kinds and rule.source.strip()
        assert rule.exact is not None or rule.contains
        assert all(marker == marker.lower() for marker in rule.contains)
        # A verified rule quotes the agent its source documents.
        assert not rule.verified or rule.sample


def test_every_reason_the_report_can_show_has_a_label():
    assert set(REASONS) | set(LEGACY_REASONS) | {UNRECORDED} == set(MACHINE_REASON_LABELS)
