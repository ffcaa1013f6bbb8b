"""The "test connection" button of the sending settings (issue 16, item 1): the relay's
own reply is shown, and no message is sent."""

from __future__ import annotations

import socket

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.mail.capture import CaptureStore
from service.mail.sending_config import save_sending_config
from tests.conftest import csrf_token
from tests.integration.campaigns.sink import Sink


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _test(client: FlaskClient, index: int) -> str:
    token = csrf_token(client, "/campaigns/settings")
    resp = client.post(
        f"/settings/relays/{index}/test", data={"csrf_token": token}, follow_redirects=True
    )
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_each_relay_is_tried_alone_and_its_reply_shown_without_sending(
    logged_in: FlaskClient, session: Session, capture: CaptureStore
) -> None:
    port = _closed_port()
    save_sending_config(
        session, {"relays": [{"url": f"smtp://u:secret@127.0.0.1:{port}", "weight": 1}]}
    )
    session.commit()
    page = logged_in.get("/campaigns/settings").get_data(as_text=True)
    assert 'data-relay="0"' in page and 'data-relay="1"' in page
    assert "secret" not in page
    before = capture.count()
    up = _test(logged_in, 0)
    assert 'class="flash flash-info"' in up and "250" in up  # the capture's MAIL FROM reply
    down = _test(logged_in, 1)
    assert 'class="flash flash-error"' in down and f"127.0.0.1:{port}" in down
    assert "secret" not in down
    assert capture.count() == before  # nothing was sent
    token = csrf_token(logged_in, "/campaigns/settings")
    assert logged_in.post("/settings/relays/2/test", data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize(
    ("refuse_login", "reply"), [(True, "535"), (False, "421")], ids=["login", "mail-from"]
)
def test_a_relay_that_refuses_the_login_or_the_sender_shows_its_refusal(
    logged_in: FlaskClient, session: Session, refuse_login: bool, reply: str
) -> None:
    relay = Sink(refuse_login=refuse_login)  # a real SMTP server (aiosmtpd)
    relay.state.busy_mail = 0 if refuse_login else 1  # 421 to the next MAIL FROM
    try:
        save_sending_config(session, {"relays": [{"url": relay.url, "weight": 1}]})
        session.commit()
        page = _test(logged_in, 1)
    finally:
        relay.stop()
    assert 'class="flash flash-error"' in page and reply in page
    assert "wrong-password" not in page
    assert relay.state.total() == 0  # nothing was sent
    assert bool(relay.state.logins) is refuse_login  # smtplib tries PLAIN, then LOGIN
    assert relay.state.refused_mail == (0 if refuse_login else 1)
