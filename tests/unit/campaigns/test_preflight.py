"""The preflight on a campaign's real rendered message: each check with a fake DNS resolver,
the service's own links asked of the app through its test client, the web's of the web."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from service.campaigns import preflight_result as pf
from service.campaigns.drafts import create_campaign
from service.campaigns.preflight import run_preflight
from service.campaigns.preflight_auth import check_alignment, check_dmarc, check_spf
from service.campaigns.preflight_links import http_fetch
from service.campaigns.preflight_message import check_list_unsubscribe
from service.cli.demo import DEMO_SUBSCRIBERS, load_demo
from service.config import Settings
from service.issues import publishing
from service.issues.render import GMAIL_CLIP_BYTES
from service.mail.dkim_sign import generate_key
from service.mail.dns_records import DnsUnavailable, PublicDns
from service.model import Issue
from service.subscribers.suppression import suppress

SELECTOR = "s2026"


def no_dns(name: str) -> list[str]:
    raise DnsUnavailable("no nameservers")


def zone(records: dict[str, list[str]]) -> Callable[[str], list[str]]:
    """A fake resolver answering from ``records`` (any other name: no record)."""
    return lambda name: records.get(name.rstrip(".").lower(), [])


def app_fetch(app: Flask, settings: Settings) -> Callable[[str], int]:
    """Own links asked of the app itself, as the admin page does."""
    client = app.test_client()
    return lambda url: client.get(url[len(settings.base_url) :]).status_code


def offline(url: str) -> int:
    raise OSError("offline")


@pytest.fixture
def signed(settings: Settings, tmp_path: Path) -> tuple[Settings, str]:
    """Settings with a DKIM key for example.org (https base URL: one-click headers), and
    the TXT record that publishes the key."""
    pem, txt = generate_key()
    key = tmp_path / "dkim.pem"
    key.write_bytes(pem)
    changed = settings.with_overrides(
        dkim_domain="example.org",
        dkim_selector=SELECTOR,
        dkim_key_file=key,
        base_url="https://news.example.org",
        bounce_domain="example.org",
    )
    return changed, txt


def _campaign(session: Session, settings: Settings, **kw: object) -> int:
    demo = load_demo(session)
    session.commit()
    args: dict[str, object] = {"issue_id": demo.issue_id, **kw}
    c = create_campaign(session, settings, lists=["members"], **args)  # type: ignore[arg-type]
    session.commit()
    return c.id


def _unpublish(session: Session, keep_private: bool = False) -> None:
    issue = session.get(Issue, load_demo(session).issue_id)
    assert issue is not None
    publishing.unpublish(session, issue, keep_private=keep_private)
    session.commit()


def _by_name(result: pf.Preflight) -> dict[str, pf.Check]:
    return {c.name: c for c in result.checks}


def _run(
    session: Session,
    settings: Settings,
    campaign_id: int,
    fetch_own: Callable[[str], int] = offline,
    resolve: Callable[[str], list[str]] = no_dns,
    fetch_external: Callable[[str], int] = offline,
) -> pf.Preflight:
    """The preflight with nothing on the network unless a test gives it a fetch or a zone."""
    return run_preflight(
        session,
        settings,
        campaign_id,
        fetch_own=fetch_own,
        resolve=resolve,
        fetch_external=fetch_external,
    )


def published_zone(txt: str) -> dict[str, list[str]]:
    return {
        "example.org": ["v=spf1 include:relay.example.net -all", "google-site-verification=x"],
        f"{SELECTOR}._domainkey.example.org": [txt],
        "_dmarc.example.org": ["v=DMARC1; p=quarantine; rua=mailto:d@example.org"],
    }


def test_without_dns_every_dns_check_says_not_checked_as_a_warning_never_ok(
    app: Flask, session: Session, signed: tuple[Settings, str]
) -> None:
    settings, _ = signed
    cid = _campaign(session, settings)
    result = _run(session, settings, cid, fetch_own=app_fetch(app, settings))
    checks = _by_name(result)
    for name in (pf.SPF, pf.DKIM_RECORD, pf.DMARC, pf.DKIM_SIGNATURE):
        assert checks[name].ok is False and checks[name].level == pf.WARNING, checks[name]
        assert checks[name].detail.text.startswith("not checked"), checks[name]
    # With the capture and no network nothing blocks, but there are warnings to tick.
    assert result.ok and result.warnings
    assert pf.refusal(result, acknowledged=False) is not None
    assert pf.refusal(result, acknowledged=True) is None
    assert set(result.as_dict()) == {"ok", "checks"}
    assert set(result.as_dict()["checks"][0]) == {"name", "ok", "level", "detail"}


def test_published_records_fit_and_the_real_signature_verifies(
    app: Flask, session: Session, signed: tuple[Settings, str]
) -> None:
    settings, txt = signed
    cid = _campaign(session, settings)
    _unpublish(session)
    result = _run(
        session,
        settings,
        cid,
        fetch_own=app_fetch(app, settings),
        resolve=zone(published_zone(txt)),
    )
    checks = _by_name(result)
    for name in (
        pf.SPF,
        pf.DKIM_RECORD,
        pf.DMARC,
        pf.DKIM_SIGNATURE,
        pf.LIST_UNSUBSCRIBE,
        pf.HTML_SIZE,
        pf.MAIL_FROM_ALIGNMENT,
        pf.OWN_LINKS,
        pf.ARCHIVE_PUBLIC,
        pf.MESSAGE,
    ):
        assert checks[name].ok, checks[name]
    assert checks[pf.SPF].detail.text == "example.org: v=spf1 include:relay.example.net -all"
    # The issue is not published: starting publishes it, and its page already shows.
    assert checks[pf.ARCHIVE_PUBLIC].detail.code == "preflight.archive_published_at_start"
    assert checks[pf.EXTERNAL_LINKS].ok is False and checks[pf.EXTERNAL_LINKS].level == "warning"


def test_another_key_in_dns_fails_the_record_and_the_signature_an_error_through_a_relay(
    app: Flask, session: Session, signed: tuple[Settings, str]
) -> None:
    settings, _ = signed
    relay = settings.with_overrides(smtp_capture=False)
    _, other = generate_key()
    cid = _campaign(session, relay)
    records = {**published_zone(other)}
    result = _run(session, relay, cid, fetch_own=app_fetch(app, settings), resolve=zone(records))
    checks = _by_name(result)
    assert checks[pf.DKIM_RECORD].detail.code == "preflight.dkim_record_other_key"
    assert checks[pf.DKIM_SIGNATURE].detail.code == "preflight.dkim_bad_signature"
    assert {c.name for c in result.errors} == {pf.DKIM_RECORD, pf.DKIM_SIGNATURE}
    refused = pf.refusal(result, acknowledged=True)
    assert refused is not None and pf.DKIM_SIGNATURE in str(refused)


def test_a_dead_link_to_the_service_is_an_error_an_unreachable_site_a_warning(
    app: Flask, session: Session, settings: Settings
) -> None:
    base = settings.base_url
    body = (
        f'<p><a href="{base}/no-such-page">here</a> '
        '<a href="http://unreachable.invalid/page">there</a></p>'
    )
    cid = _campaign(session, settings, issue_id=None, body_html=body, subject="Links")
    result = _run(
        session, settings, cid, fetch_own=app_fetch(app, settings), fetch_external=http_fetch
    )
    checks = _by_name(result)
    own, external = checks[pf.OWN_LINKS], checks[pf.EXTERNAL_LINKS]
    assert (own.ok, own.level) == (False, pf.ERROR)
    assert f"{base}/no-such-page → 404" in own.detail.text
    assert (external.ok, external.level) == (False, pf.WARNING)
    assert "http://unreachable.invalid/page" in external.detail.text
    assert not result.ok and [c.name for c in result.errors] == [pf.OWN_LINKS]


def test_own_links_the_service_does_not_answer_are_not_checked_not_dead(
    app: Flask, session: Session, settings: Settings
) -> None:
    cid = _campaign(session, settings)
    result = _run(session, settings, cid)
    own = _by_name(result)[pf.OWN_LINKS]
    assert (own.ok, own.level, own.detail.code) == (
        False,
        pf.WARNING,
        "preflight.own_links_not_checked",
    )


def test_a_published_issue_is_public_and_a_private_one_is_not_linked(
    app: Flask, session: Session, settings: Settings
) -> None:
    cid = _campaign(session, settings)
    fetch = app_fetch(app, settings)
    issue = session.get(Issue, load_demo(session).issue_id)
    assert issue is not None
    publishing.publish(session, issue)
    session.commit()
    result = _run(session, settings, cid, fetch_own=fetch)
    assert _by_name(result)[pf.ARCHIVE_PUBLIC].detail.code == "preflight.archive_public"
    _unpublish(session, keep_private=True)
    private = _campaign(session, settings)
    result = _run(session, settings, private, fetch_own=fetch)
    assert _by_name(result)[pf.ARCHIVE_PUBLIC].detail.code == "preflight.archive_not_linked"


def test_recipients_count_the_suppressed_addresses_left_out(
    app: Flask, session: Session, settings: Settings
) -> None:
    cid = _campaign(session, settings)
    suppress(session, DEMO_SUBSCRIBERS[0][0], "manual", "test")
    session.commit()
    result = _run(session, settings, cid)
    check = _by_name(result)[pf.RECIPIENTS]
    assert check.ok and check.detail.params == {
        "recipients": len(DEMO_SUBSCRIBERS) - 1,
        "suppressed": 1,
    }
    # The message is rendered for a recipient, not for the suppressed address.
    assert DEMO_SUBSCRIBERS[0][0] not in _by_name(result)[pf.MESSAGE].detail.text


def test_html_over_gmails_clip_is_an_error(
    app: Flask, session: Session, settings: Settings
) -> None:
    body = "<p>" + "长文本 " * (GMAIL_CLIP_BYTES // 5) + "</p>"
    cid = _campaign(session, settings, issue_id=None, body_html=body, subject="Long")
    result = _run(session, settings, cid)
    size = _by_name(result)[pf.HTML_SIZE]
    assert (size.ok, size.level) == (False, pf.ERROR)
    assert size.detail.params["size"] > GMAIL_CLIP_BYTES


def test_a_missing_one_click_header_and_an_unsigned_one() -> None:
    message = EmailMessage()
    message["List-Unsubscribe"] = "<https://news.example.org/unsubscribe/x>"
    missing = check_list_unsubscribe(message, pf.ERROR)
    assert (missing.ok, missing.detail.params) == (False, {"headers": "List-Unsubscribe-Post"})
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["DKIM-Signature"] = "v=1; d=example.org; s=s; h=from:to:list-unsubscribe; b=x"
    unsigned = check_list_unsubscribe(message, pf.WARNING)
    assert (unsigned.ok, unsigned.level) == (False, pf.WARNING)
    assert unsigned.detail.params == {"headers": "List-Unsubscribe-Post"}


def test_spf_records_that_do_not_fit() -> None:
    many = zone({"example.org": ["v=spf1 -all", "v=spf1 mx -all"]})
    assert check_spf(many, "example.org", pf.ERROR).detail.code == "preflight.spf_many"
    everyone = zone({"example.org": ["v=spf1 +all"]})
    assert check_spf(everyone, "example.org", pf.ERROR).detail.code == "preflight.spf_all"
    assert check_spf(zone({}), "example.org", pf.ERROR).detail.code == "preflight.spf_missing"


def test_dmarc_is_found_at_the_parent_domain_and_needs_a_policy() -> None:
    parent = zone({"_dmarc.example.org": ["v=DMARC1; p=reject"]})
    assert check_dmarc(parent, "news.example.org", pf.ERROR).detail.params["domain"] == (
        "example.org"
    )
    no_policy = zone({"_dmarc.example.org": ["v=DMARC1; rua=mailto:x@example.org"]})
    assert not check_dmarc(no_policy, "example.org", pf.ERROR).ok


def test_a_return_path_outside_the_from_domain_is_a_warning() -> None:
    assert check_alignment("example.org", "bounces.example.org").ok
    other = check_alignment("example.org", "mail.relay.example.net")
    assert (other.ok, other.level) == (False, pf.WARNING)


def test_a_resolver_that_knows_no_public_name_is_not_trusted() -> None:
    sandbox = PublicDns(zone({}))  # "no such name" to everything, gmail.com included
    with pytest.raises(DnsUnavailable):
        sandbox("example.org")
    assert check_spf(sandbox, "example.org", pf.ERROR).detail.code == "preflight.dns_not_checked"
    public = PublicDns(zone({"gmail.com": ["v=spf1 redirect=_spf.google.com"]}))
    assert public("example.org") == []


def test_a_campaign_nobody_is_on_yet_is_checked_on_a_sample_message(
    app: Flask, session: Session, settings: Settings
) -> None:
    from service.subscribers.lists import create_list

    load_demo(session)
    create_list(session, "empty", "空名单")
    session.commit()
    c = create_campaign(session, settings, issue_id=load_demo(session).issue_id, lists=["empty"])
    session.commit()
    result = _run(session, settings, c.id, fetch_own=app_fetch(app, settings))
    checks = _by_name(result)
    assert checks[pf.RECIPIENTS].detail.params == {"recipients": 0, "suppressed": 0}
    assert checks[pf.MESSAGE].ok and "sample@example.org" in checks[pf.MESSAGE].detail.text
    # Its links are real ones (no tracking: no delivery row) and answer.
    assert checks[pf.OWN_LINKS].ok and checks[pf.OWN_LINKS].detail.params["count"] > 0
