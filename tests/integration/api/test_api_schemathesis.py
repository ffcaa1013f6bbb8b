"""Schemathesis against the live spec, in-process (WSGI): no 500 and no answer that
contradicts the spec, for every operation, on a bounded number of generated examples."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy.orm import Session

from service.campaigns.drafts import create_campaign
from service.config import Settings
from service.issues.store import create_issue_from_document
from service.model import Subscriber
from service.subscribers.lists import create_list
from service.web.api.meta import spec
from tests.integration.api.conftest import DEMO_ISSUE, make_token

# Bounded so the whole run stays well under a minute on a shared machine.
MAX_EXAMPLES = 25
CHECKS: list[Any] = [not_a_server_error, response_schema_conformance]


def _seed(session: Session, cfg: Settings) -> None:
    """A list, subscribers, the demo issue and a draft campaign, so that generated ids
    sometimes meet real rows."""
    lst = create_list(session, "members", "会员通讯", double_opt_in=False)
    for n in range(5):
        email = f"member{n}@example.org"
        session.add(Subscriber(email=email, email_ascii=email, name=f"会员 {n}", attributes={}))
    issue = create_issue_from_document(session, DEMO_ISSUE.name, DEMO_ISSUE.read_bytes())
    session.flush()
    create_campaign(session, cfg, lists=[lst.id], issue_id=issue.id)
    session.commit()


@pytest.fixture
def seeded(app: Flask, session: Session, settings: Settings) -> str:
    """A seeded app's admin token."""
    _seed(session, settings)
    return make_token(session, "admin")


# The spec is built from the operation registry, exactly as /api/v1/openapi.json serves it
# (test_api_openapi.py checks the two are the same document).
schema = schemathesis.openapi.from_dict(spec())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # no example database written into the work tree
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_spec_and_never_with_a_500(
    case: Any, app: Flask, seeded: str
) -> None:
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {seeded}"}, checks=CHECKS)
