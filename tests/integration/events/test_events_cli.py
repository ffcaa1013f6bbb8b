"""Configuration commands for webhooks and the bounce mailbox: stored, shown masked."""

from __future__ import annotations

import json

from click.testing import CliRunner

from service.accounts.settings_store import get_setting
from service.cli import main


def test_webhook_secrets_are_stored_and_shown_back_masked(session, test_env):
    runner = CliRunner()
    result = runner.invoke(
        main, ["webhook", "set", "mailgun", "--signing-key", "key-abcdefghijklmnop1234", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"signing_key": "…1234"}
    runner.invoke(main, ["webhook", "set", "ses", "--topic-arn", "arn:aws:sns:x:1:a"])
    shown = json.loads(runner.invoke(main, ["webhook", "show", "--json"]).output)
    assert shown["ses"] == {"topic_arns": ["arn:aws:sns:x:1:a"]}
    assert "abcdefgh" not in json.dumps(shown)
    session.expire_all()
    stored = get_setting(session, "webhooks")
    assert stored["mailgun"]["signing_key"] == "key-abcdefghijklmnop1234"


def test_the_bounce_mailbox_is_configured_without_echoing_its_password(session, test_env):
    result = CliRunner().invoke(
        main,
        [
            "bounce-mailbox",
            "--host",
            "imap.example.org",
            "--user",
            "b",
            "--password",
            "pw-1",
            "--enable",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["host"] == "imap.example.org" and shown["enabled"] is True
    assert shown["password"] == "********" and "pw-1" not in result.output
    session.expire_all()
    assert get_setting(session, "bounce_mailbox")["password"] == "pw-1"
