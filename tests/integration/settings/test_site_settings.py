"""Sender and site settings (issue 16, item 1): stored in the admin, a TIDINGS_* variable
still wins, and the mail to readers names the association, never the placeholder."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns.drafts import create_campaign
from service.campaigns.previews import render_message
from service.config import Settings
from service.issues.layout import get_layout
from service.issues.store import create_issue_from_document
from service.mail.capture import CaptureStore
from service.mail.site_settings import (
    SiteSettings,
    SiteSettingsError,
    effective_settings,
    save_site_settings,
    stored_site_settings,
)
from service.model import Campaign, MailingList
from service.subscribers.confirmation import send_confirmation
from service.subscribers.subscriptions import confirm, issue_confirm_token, subscribe
from tests.conftest import csrf_token

# Not the built-in defaults nor in the demo issue: seen only if the settings reach the mail.
ASSOCIATION = "大连市软件行业协会"
ADDRESS = "大连市高新区软件园路 8 号"
DEMO = Path(__file__).resolve().parents[3] / "demo" / "dldta-2026-q1.md"


def _unpinned(settings: Settings) -> Settings:
    """The test settings as an installation that never set TIDINGS_FROM or the base URL."""
    extra = {
        k: v for k, v in settings.extra.items() if k not in ("TIDINGS_FROM", "TIDINGS_BASE_URL")
    }
    return settings.with_overrides(
        from_name="Tidings",
        from_addr="newsletter@localhost",
        bounce_domain="localhost",
        base_url="http://127.0.0.1:8000",
        base_url_explicit=False,
        extra=extra,
    )


def _decoded(raw: bytes) -> str:
    """Every header and every text part of a message, decoded (base64, RFC 2047)."""
    msg = message_from_bytes(raw, policy=policy.default)
    shown = [f"{k}: {v}" for k, v in msg.items()]
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            shown.append(part.get_content())  # type: ignore[attr-defined]
    return "\n".join(shown)


def test_a_tidings_variable_wins_and_the_page_names_it(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    save_site_settings(session, {"from_addr": "stored@dldta.org.cn", "org_name": ASSOCIATION})
    session.commit()
    effective = effective_settings(session, settings)
    assert effective.from_addr == settings.from_addr  # TIDINGS_FROM is set in the tests
    html = logged_in.get("/settings/sender").get_data(as_text=True)
    assert 'data-pinned="from_addr"' in html and "TIDINGS_FROM" in html
    assert 'data-pinned="base_url"' in html and "TIDINGS_BASE_URL" in html
    assert f'name="org_name" value="{ASSOCIATION}"' in html
    assert f'value="{settings.from_addr}" disabled' in html


def test_the_form_saves_valid_fields_and_refuses_a_bad_address(
    logged_in: FlaskClient, session: Session
) -> None:
    token = csrf_token(logged_in, "/settings/sender")
    bad = logged_in.post(
        "/settings/sender",
        data={"csrf_token": token, "org_name": ASSOCIATION, "reply_to": "not an address"},
    )
    assert bad.status_code == 400 and 'data-error="reply_to"' in bad.get_data(as_text=True)
    assert stored_site_settings(session).org_name == ""
    ok = logged_in.post(
        "/settings/sender",
        data={
            "csrf_token": token,
            "org_name": ASSOCIATION,
            "postal_address": ADDRESS,
            "reply_to": "Office@DLDTA.org.cn",
            # A pinned field sent anyway (a hand-made POST) is not stored.
            "from_addr": "sneaky@example.net",
        },
    )
    assert ok.status_code == 302
    session.expire_all()
    site = stored_site_settings(session)
    assert (site.org_name, site.postal_address) == (ASSOCIATION, ADDRESS)
    assert site.reply_to == "office@dldta.org.cn" and site.from_addr == ""


@pytest.mark.parametrize("with_address", [True, False])
def test_once_the_association_is_named_reader_mail_never_says_the_placeholder(
    session: Session, settings: Settings, capture: CaptureStore, with_address: bool
) -> None:
    config = _unpinned(settings)
    values = {"org_name": ASSOCIATION, "postal_address": ADDRESS}
    if with_address:
        values["from_addr"] = "news@dldta.org.cn"
    save_site_settings(session, values)
    members = MailingList(slug="members", name="会员单位")
    session.add(members)
    session.flush()
    result = subscribe(session, members, "reader@example.org", language="zh-CN")
    session.commit()

    before = set(capture.ids())
    assert send_confirmation(session, config, result.subscriber_id, members.id) == "sent"
    (new,) = set(capture.ids()) - before
    mails = [_decoded(capture.raw(new))]
    confirm(session, issue_confirm_token(session, result.subscriber_id, members.id))
    session.commit()

    issue = create_issue_from_document(session, DEMO.name, DEMO.read_bytes())
    campaign = create_campaign(session, config, lists=[members.id], issue_id=issue.id)
    session.commit()
    mails.append(_decoded(render_message(session, config, campaign.id, "reader@example.org")))

    for text in mails:
        assert f"From: {ASSOCIATION} <" in text
        assert "Tidings" not in text
        assert ("newsletter@localhost" in text) is not with_address
    assert ADDRESS in mails[1]  # the issue's footer
    layout = get_layout(session, config)
    assert (layout.org_name, layout.address) == (ASSOCIATION, ADDRESS)


def test_the_layout_page_shows_the_association_from_the_site_settings_without_editing_it(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    save_site_settings(session, {"org_name": ASSOCIATION})
    session.commit()
    html = logged_in.get("/issues/layout").get_data(as_text=True)
    assert f'value="{ASSOCIATION}" disabled data-from-site="org_name"' in html
    assert '<a href="/settings/sender">' in html and "&lt;a href" not in html  # says where
    assert 'name="org_name"' not in html and 'name="address"' in html
    token = csrf_token(logged_in, "/issues/layout")
    form = {
        "csrf_token": token,
        "primary_color": "#1d4f91",
        "accent_color": "#b8322a",
        "language": "zh-CN",
        "address": ADDRESS,
    }
    assert logged_in.post("/issues/layout", data=form).status_code == 302
    layout = get_layout(session, settings)
    assert (layout.org_name, layout.address) == (ASSOCIATION, ADDRESS)


def test_the_new_campaign_form_offers_the_stored_reply_to_and_an_emptied_one_means_none(
    logged_in: FlaskClient, session: Session
) -> None:
    save_site_settings(session, {"reply_to": "office@dldta.org.cn"})
    members = MailingList(slug="members", name="会员单位")
    session.add(members)
    session.commit()
    html = logged_in.get("/campaigns/new").get_data(as_text=True)
    assert 'name="reply_to" value="office@dldta.org.cn"' in html
    token = csrf_token(logged_in, "/campaigns/new")
    form = {
        "csrf_token": token,
        "lists": str(members.id),
        "body_html": "<p>本期</p>",
        "subject": "会刊",
        "content_mode": "auto",
    }
    kept = logged_in.post("/campaigns/new", data={**form, "reply_to": "office@dldta.org.cn"})
    emptied = logged_in.post("/campaigns/new", data={**form, "reply_to": ""})
    assert kept.status_code == emptied.status_code == 302
    rows = session.scalars(select(Campaign).order_by(Campaign.id)).all()
    assert [c.reply_to for c in rows] == ["office@dldta.org.cn", None]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("from_addr", "not an address", "site.bad_address"),
        ("from_addr", "news@", "site.bad_address"),
        ("reply_to", "office@@dldta.org.cn", "site.bad_address"),
        ("base_url", "news.dldta.org.cn", "site.bad_base_url"),  # no scheme
        ("base_url", "ftp://news.dldta.org.cn", "site.bad_base_url"),
        ("base_url", "https://", "site.bad_base_url"),  # no host
        ("base_url", "https://news.dldta.org.cn/" + "a" * 500, "site.too_long"),
        ("org_name", "协会\x00", "site.control_chars"),
    ],
)
def test_a_bad_from_reply_to_or_base_url_is_refused_and_nothing_is_stored(
    session: Session, settings: Settings, field: str, value: str, code: str
) -> None:
    with pytest.raises(SiteSettingsError) as caught:
        save_site_settings(session, {"org_name": ASSOCIATION, field: value})
    assert {name: error.code for name, error in caught.value.errors.items()} == {field: code}
    assert stored_site_settings(session) == SiteSettings()
    assert effective_settings(session, _unpinned(settings)).base_url == "http://127.0.0.1:8000"


def test_a_stored_base_url_is_kept_without_its_trailing_slash(session: Session) -> None:
    site = save_site_settings(session, {"base_url": "https://news.dldta.org.cn/"})
    assert site.base_url == "https://news.dldta.org.cn"
