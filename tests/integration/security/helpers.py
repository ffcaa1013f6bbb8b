"""Shared pieces of the security tests: role logins without a password round trip."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.accounts.sessions import start_session
from service.accounts.users import create_user
from service.config import Settings
from service.model import User

PASSWORD = "correct horse battery"
ROLES = ("admin", "editor", "viewer")


def make_staff(session: Session) -> dict[str, User]:
    """One active user per role (addresses ``<role>@example.org``)."""
    users = {role: create_user(session, f"{role}@example.org", PASSWORD, role) for role in ROLES}
    session.commit()
    return users


def act_as(client: FlaskClient, session: Session, user: User | None) -> None:
    """Put ``user`` into the client's session the way a login does: a new server-side
    session (on the current session version, which earlier actions may have bumped)."""
    with client.session_transaction() as cookie:
        cookie.clear()
        if user is not None:
            session.refresh(user)
            sid = start_session(session, user, "127.0.0.1")
            session.commit()
            cookie["_user_id"] = str(sid)
            cookie["_fresh"] = True


# Values for URL parts that name no row: a page then answers 404 (itself a page to check).
PLACEHOLDERS = {"fmt": "csv", "msg_id": "0000-none", "anchor": "a-none"}
MISSING_ID = 987654
NOT_STAFF = {"static", "public", "auth", "reader", "archive", "tracking", "webhooks", "metrics"}


def is_staff_endpoint(endpoint: str) -> bool:
    """Whether an endpoint belongs to the logged-in admin (not public, not the API)."""
    blueprint = endpoint.partition(".")[0]
    return blueprint not in NOT_STAFF and not blueprint.startswith("api")


def admin_get_urls(app: Flask, ids: dict[str, int] | None = None) -> list[str]:
    """Every GET page of the admin, with real ids where ``ids`` names them."""
    adapter = app.url_map.bind("localhost")
    urls = []
    for rule in app.url_map.iter_rules():
        if not is_staff_endpoint(rule.endpoint) or "GET" not in (rule.methods or set()):
            continue
        values = {
            name: (ids or {}).get(name, PLACEHOLDERS.get(name, MISSING_ID))
            for name in rule.arguments
        }
        urls.append(adapter.build(rule.endpoint, values))
    return sorted(urls)


def demo_ids(session: Session, settings: Settings) -> dict[str, int]:
    """Load the demo issue, list and subscribers and a draft campaign; their ids by URL part."""
    from sqlalchemy import select

    from service.campaigns.drafts import create_campaign
    from service.cli.demo import load_demo
    from service.model import Subscriber

    demo = load_demo(session)
    session.commit()
    campaign = create_campaign(session, settings, lists=[demo.list_id], issue_id=demo.issue_id)
    session.commit()
    subscriber_id = session.scalar(select(Subscriber.id).limit(1))
    return {
        "issue_id": demo.issue_id,
        "list_id": demo.list_id,
        "campaign_id": campaign.id,
        "subscriber_id": subscriber_id or MISSING_ID,
    }
