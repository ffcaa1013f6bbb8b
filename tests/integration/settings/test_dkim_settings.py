"""DKIM in the admin (issue 16, item 1): a 2048-bit key generated and stored, the exact
TXT record to publish, the check against DNS, and mail signed with it."""

from __future__ import annotations

import html as html_lib
import re

import dkim
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from service.campaigns import engine
from service.campaigns.drafts import create_campaign
from service.campaigns.personalise import context_for
from service.config import Settings
from service.mail.capture import CaptureStore
from service.mail.dkim_store import stored_dkim
from service.mail.site_settings import effective_settings
from service.model import MailingList
from service.subscribers.confirmation import send_confirmation
from service.subscribers.subscriptions import subscribe
from service.web import sender
from service.web.app import get_db
from tests.conftest import csrf_token

DOMAIN = "example.org"  # the From domain of the test settings (aligned)
SELECTOR = "news202612"
NAME = f"{SELECTOR}._domainkey.{DOMAIN}"


def _generate(client: FlaskClient, selector: str = SELECTOR) -> object:
    token = csrf_token(client, "/settings/dkim")
    return client.post(
        "/settings/dkim/generate",
        data={"csrf_token": token, "domain": DOMAIN, "selector": selector},
    )


def _published(session: Session) -> str:
    stored = stored_dkim(session)
    assert stored is not None
    return stored.signer.dns_txt_value


def _dns(records: dict[str, str]) -> sender.dns.TxtResolver:
    """A resolver that sees the public DNS (the canary) and the given records."""
    known = {"gmail.com": "v=spf1 redirect=_spf.google.com", **records}
    return lambda name: [known[name]] if name in known else []


def test_the_generated_key_is_2048_bit_and_the_page_shows_its_exact_record(
    logged_in: FlaskClient, session: Session
) -> None:
    assert _generate(logged_in).status_code == 302  # type: ignore[attr-defined]
    stored = stored_dkim(session)
    assert stored is not None and (stored.domain, stored.selector) == (DOMAIN, SELECTOR)
    key = load_pem_private_key(stored.private_key_pem.encode(), password=None)
    assert key.key_size == 2048  # type: ignore[union-attr]
    html = logged_in.get("/settings/dkim").get_data(as_text=True)
    record = re.search(r"<pre class=\"dns-record\" data-record>([^<]+)</pre>", html)
    assert record is not None
    assert html_lib.unescape(record.group(1)) == f'{NAME} TXT "{_published(session)}"'
    assert _published(session).startswith("v=DKIM1; k=rsa; p=MIIBIjAN")  # 2048-bit SPKI


def test_a_bad_selector_is_refused_and_nothing_is_stored(
    logged_in: FlaskClient, session: Session
) -> None:
    resp = _generate(logged_in, selector="no spaces")
    assert resp.status_code == 400  # type: ignore[attr-defined]
    assert 'data-error="dkim"' in resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert stored_dkim(session) is None


def test_the_check_says_missing_then_ok_once_published(
    logged_in: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _generate(logged_in)
    token = csrf_token(logged_in, "/settings/dkim")
    monkeypatch.setattr(sender, "DNS_RESOLVER", _dns({}))
    missing = logged_in.post("/settings/dkim/check", data={"csrf_token": token})
    shown = html_lib.unescape(missing.get_data(as_text=True))
    assert 'data-check="failed"' in shown and f"{NAME}" in shown
    monkeypatch.setattr(sender, "DNS_RESOLVER", _dns({NAME: _published(session)}))
    found = logged_in.post("/settings/dkim/check", data={"csrf_token": token})
    assert 'data-check="ok"' in found.get_data(as_text=True)


def test_reader_mail_is_signed_with_the_stored_key_unless_the_environment_sets_one(
    logged_in: FlaskClient, session: Session, settings: Settings, capture: CaptureStore
) -> None:
    _generate(logged_in)
    record = _published(session)
    members = MailingList(slug="members", name="会员单位")
    session.add(members)
    session.flush()
    result = subscribe(session, members, "reader@example.org")
    session.commit()
    before = set(capture.ids())
    assert send_confirmation(session, settings, result.subscriber_id, members.id) == "sent"
    (new,) = set(capture.ids()) - before
    raw = capture.raw(new)
    assert f"s={SELECTOR}".encode() in raw and f"d={DOMAIN}".encode() in raw
    lookup = {f"{NAME}.".encode(): record.encode()}
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: lookup.get(name))

    pinned = settings.with_overrides(extra={**settings.extra, "TIDINGS_DKIM_DOMAIN": "example.org"})
    assert effective_settings(session, pinned).dkim_key_pem is None


def test_a_running_campaign_reads_the_stored_key_once_per_process_and_signs_with_one_signer(
    logged_in: FlaskClient, app: Flask, session: Session, settings: Settings
) -> None:
    _generate(logged_in)
    members = MailingList(slug="members", name="会员单位")
    session.add(members)
    session.commit()
    campaign = create_campaign(
        session, settings, lists=[members.id], body_html="<p>本期</p>", subject="会刊"
    )
    session.commit()
    engine.start(session, settings, campaign.id)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    db = get_db(app).engine
    first = context_for(session, settings, campaign)  # the first batch builds the context
    event.listen(db, "before_cursor_execute", seen)
    try:
        again = context_for(session, settings, campaign)  # every later batch reuses it
        messages = [again.message(n, n, f"r{n}@example.org", "") for n in (1, 2)]
    finally:
        event.remove(db, "before_cursor_execute", seen)
    assert again is first and again.signer is first.signer is not None
    assert not [s for s in statements if "settings" in s]
    assert all(f"s={SELECTOR}".encode() in m for m in messages)


def _no_dns(name: str) -> list[str]:
    raise sender.dns.DnsUnavailable("no servers could be reached")


@pytest.mark.parametrize("resolver", [_no_dns, lambda name: []], ids=["unreachable", "private"])
def test_the_check_without_a_public_dns_says_not_checked_not_missing(
    logged_in: FlaskClient, monkeypatch: pytest.MonkeyPatch, resolver: sender.dns.TxtResolver
) -> None:
    _generate(logged_in)
    token = csrf_token(logged_in, "/settings/dkim")
    monkeypatch.setattr(sender, "DNS_RESOLVER", resolver)
    resp = logged_in.post("/settings/dkim/check", data={"csrf_token": token})
    assert resp.status_code == 200
    shown = html_lib.unescape(resp.get_data(as_text=True))
    # The UI is in Chinese: "not checked: no DNS server answered", not "has no record".
    assert 'data-check="failed">未检查' in shown
    assert "没有 DKIM 密钥记录" not in shown
