"""The dashboard's first-run checklist (issue 16, item 1): what is still to set up, each
step linking to the page that settles it, gone once everything is done."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from service.config import Settings
from service.mail.dkim_store import generate_dkim_key
from service.mail.sending_config import save_sending_config
from service.mail.site_settings import save_site_settings
from service.ops.first_run import first_run_steps
from service.web.app import get_db
from tests.integration.security.helpers import act_as, make_staff
from tests.integration.settings.test_site_settings import _unpinned


def _steps(html: str) -> dict[str, tuple[str, str | None]]:
    """``{step: (done, link)}`` as the dashboard shows them."""
    found = re.findall(r'<li data-step="(\w+)" data-done="(\w+)">\s*(?:<a href="([^"]+)")?', html)
    return {key: (done, link or None) for key, done, link in found}


def test_the_checklist_names_what_is_open_and_links_to_each_fix(
    client: FlaskClient, session: Session
) -> None:
    users = make_staff(session)
    act_as(client, session, users["admin"])
    # The test service: From at example.org, the local capture, no DKIM key, the base URL
    # http://localhost, no association saved.
    steps = _steps(client.get("/").get_data(as_text=True))
    assert steps == {
        "association": ("no", "/settings/sender"),
        "from_domain": ("yes", None),
        "relay": ("no", "/campaigns/settings"),
        "dkim": ("no", "/settings/dkim"),
        "base_url": ("no", "/settings/sender"),
    }
    save_site_settings(session, {"org_name": "大连市数字贸易协会"})
    generate_dkim_key(session, "example.org", "news202612")
    session.commit()
    steps = _steps(client.get("/").get_data(as_text=True))
    assert steps["association"] == ("yes", None) and steps["dkim"] == ("yes", None)

    act_as(client, session, users["viewer"])  # the links lead to admin pages
    assert "data-checklist" not in client.get("/").get_data(as_text=True)


def test_every_step_is_done_once_the_sender_relay_key_and_public_url_are_set(
    session: Session, settings: Settings
) -> None:
    config = _unpinned(settings)
    assert not any(step.done for step in first_run_steps(session, config))
    save_site_settings(
        session,
        {
            "org_name": "大连市数字贸易协会",
            "from_addr": "news@dldta.org.cn",
            "base_url": "https://news.dldta.org.cn",
        },
    )
    save_sending_config(session, {"relays": [{"url": "smtp://relay.dldta.org.cn:587"}]})
    generate_dkim_key(session, "dldta.org.cn", "news202612")
    assert all(step.done for step in first_run_steps(session, config))


def test_the_dashboard_reads_each_stored_setting_once(
    client: FlaskClient, app: Flask, session: Session
) -> None:
    users = make_staff(session)
    act_as(client, session, users["admin"])
    save_site_settings(session, {"org_name": "大连市数字贸易协会"})
    generate_dkim_key(session, "example.org", "news202612")
    session.commit()
    keys: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, params: Any, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM settings" in statement:
            keys.extend(str(p) for p in (params.values() if isinstance(params, dict) else params))

    db = get_db(app).engine
    event.listen(db, "before_cursor_execute", seen)
    try:
        assert "data-checklist" in client.get("/").get_data(as_text=True)
    finally:
        event.remove(db, "before_cursor_execute", seen)
    assert sorted(k for k in keys if k in ("site", "dkim")) == ["dkim", "site"]
