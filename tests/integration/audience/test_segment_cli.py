"""``tidings segment add|list`` and ``tidings campaign add --segment``, each in its own
process on the test database (what a script sees)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from service.model import Campaign, MailingList, Membership, Organisation, Subscriber
from service.subscribers.organisation_names import name_key

TIDINGS = Path(sys.executable).with_name("tidings")
COUNCIL = [{"kind": "org_level_in", "levels": ["理事单位"]}]


def _tidings(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TIDINGS), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def _council_member(session: Session, members: MailingList) -> None:
    org = Organisation(name="数贸科技", name_key=name_key("数贸科技"), level="理事单位")
    session.add(org)
    session.flush()
    for email, org_id in (("li@example.org", org.id), ("sun@example.org", None)):
        sub = Subscriber(email=email, email_ascii=email, organisation_id=org_id, attributes={})
        session.add(sub)
        session.flush()
        session.add(Membership(subscriber_id=sub.id, list_id=members.id, status="active"))
    session.commit()


def test_segment_add_and_list_json_are_the_contract_and_campaign_add_takes_the_segment(
    session: Session, members: MailingList, tmp_path: Path, test_env: dict[str, str]
) -> None:
    _council_member(session, members)
    added = _tidings(
        test_env,
        "segment",
        "add",
        "--name",
        "理事单位",
        "--conditions",
        json.dumps(COUNCIL),
        "--json",
    )
    assert added.returncode == 0, added.stderr
    segment = json.loads(added.stdout)
    assert segment == {"id": segment["id"], "name": "理事单位", "conditions": COUNCIL, "count": 1}

    listed = _tidings(test_env, "segment", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"segments": [segment]}

    body = tmp_path / "body.html"
    body.write_text("<p>理事会</p>", encoding="utf-8")
    made = _tidings(
        test_env,
        "campaign",
        "add",
        "--html",
        str(body),
        "--list",
        "members",
        "--subject",
        "理事会通知",
        "--segment",
        str(segment["id"]),
        "--json",
    )
    assert made.returncode == 0, made.stderr
    campaign = session.get(Campaign, json.loads(made.stdout)["id"])
    assert campaign is not None and campaign.segment_id == segment["id"]


def test_bad_conditions_or_an_unknown_segment_fail_with_the_reason_and_change_nothing(
    session: Session, members: MailingList, tmp_path: Path, test_env: dict[str, str]
) -> None:
    unknown = _tidings(
        test_env, "segment", "add", "--name", "x", "--conditions", '[{"kind": "opened_some"}]'
    )
    assert unknown.returncode == 1 and "unknown kind 'opened_some'" in unknown.stderr
    not_json = _tidings(test_env, "segment", "add", "--name", "x", "--conditions", "[{")
    assert not_json.returncode == 1 and "--conditions is not JSON" in not_json.stderr
    body = tmp_path / "body.html"
    body.write_text("<p>x</p>", encoding="utf-8")
    missing = _tidings(
        test_env, "campaign", "add", "--html", str(body), "--list", "members", "--segment", "99"
    )
    assert missing.returncode == 1 and "there is no segment 99" in missing.stderr
    assert json.loads(_tidings(test_env, "segment", "list", "--json").stdout) == {"segments": []}
    assert session.query(Campaign).count() == 0
