"""The mail we send, built exactly as sent, scores at most 0 in SpamAssassin 4.

A well-made newsletter scores <= 0; every rule that adds points is something a receiving
filter holds against us.  SpamAssassin runs its local rules only (``-L``: no DNS
blocklists, no network) with Bayes off: a fresh machine has no training data, and
auto-learning would make one run change the next.  It gets its own HOME, so its user
preferences and state stay in the test's directory (SpamAssassin 4 still makes an empty
~/.spamassassin of the passwd user as its global state directory; no option stops that).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.campaigns.drafts import create_campaign
from service.campaigns.previews import render_message
from service.cli.demo import DEMO_SUBSCRIBERS, load_demo
from service.config import Settings
from service.mail.dkim_sign import generate_key
from service.subscribers.confirmation import build_confirmation

SPAMASSASSIN = Path("/usr/bin/spamassassin")
SKIP_REASON = "SpamAssassin (Debian package spamassassin) is not installed"
# The most a message may score: points above 0 mean some rule counts against it.
MAX_SCORE = 0.0
SPAMASSASSIN_TIMEOUT_SECONDS = 120
# Production-like links: the test service's http://localhost is no sender's base URL.
BASE_URL = "https://news.example.org"

pytestmark = pytest.mark.skipif(not os.access(SPAMASSASSIN, os.X_OK), reason=SKIP_REASON)

_SCORE = re.compile(r"^X-Spam-Status: \w+, score=(-?\d+(?:\.\d+)?) ", re.MULTILINE)
# A line of the report's table: points, rule name, description.
_RULE = re.compile(r"^ *(-?\d+(?:\.\d+)?) ([A-Z0-9_]+) ", re.MULTILINE)


def spam_score(message: bytes, home: Path) -> tuple[float, dict[str, float]]:
    """Return SpamAssassin's score for `message` and the points of each rule that fired."""
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(SPAMASSASSIN), "-L", "-t", "--cf=use_bayes 0"],
        input=message,
        capture_output=True,
        check=True,
        env={**os.environ, "HOME": str(home)},
        timeout=SPAMASSASSIN_TIMEOUT_SECONDS,
    )
    output = done.stdout.decode("utf-8", "replace")
    score = _SCORE.search(output)
    assert score is not None, f"no X-Spam-Status score in SpamAssassin's output:\n{output[:2000]}"
    # -t appends the report (a table of the rules that fired) after the message.
    report = output.rsplit("Content analysis details:", 1)[-1]
    rules = {rule: float(points) for points, rule in _RULE.findall(report)}
    return float(score.group(1)), rules


def test_the_demo_issue_sent_as_a_campaign_scores_at_most_zero(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    pem, _ = generate_key()
    (tmp_path / "dkim.pem").write_bytes(pem)
    # As in production: DKIM-signed, tracked links and open pixel, https links.
    sending = settings.with_overrides(
        base_url=BASE_URL,
        dkim_domain="example.org",
        dkim_selector="t2026",
        dkim_key_file=tmp_path / "dkim.pem",
    )
    demo = load_demo(session)
    session.commit()
    campaign = create_campaign(session, sending, lists=["members"], issue_id=demo.issue_id)
    session.commit()
    message = render_message(session, sending, campaign.id, DEMO_SUBSCRIBERS[0][0])
    assert message.startswith(b"DKIM-Signature:") and b"multipart/alternative" in message

    score, rules = spam_score(message, tmp_path / "home")

    assert score <= MAX_SCORE, f"SpamAssassin scores the demo issue {score}: {rules}"


def test_the_confirmation_mail_scores_at_most_zero(settings: Settings, tmp_path: Path) -> None:
    mail = build_confirmation(
        settings.with_overrides(base_url=BASE_URL),
        to_email="wang.li@example.org",
        language="zh-CN",
        list_name="会员单位",
        confirm_url=f"{BASE_URL}/confirm/AbC_123-xyz",
    )

    score, rules = spam_score(mail.data, tmp_path / "home")

    assert score <= MAX_SCORE, f"SpamAssassin scores the confirmation mail {score}: {rules}"
