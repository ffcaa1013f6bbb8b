"""Fixtures of the audience tests: a list, and a helper to run an import."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.model import MailingList
from service.subscribers.import_terms import ImportReport, ImportTarget
from service.subscribers.importer import import_file
from service.subscribers.lists import create_list


@pytest.fixture
def members(session: Session) -> MailingList:
    """A double opt-in list, committed."""
    row = create_list(session, "members", "会员单位")
    session.commit()
    return row


def run_import(
    session: Session,
    path: Path,
    mailing_list: MailingList,
    mode: str = "add",
    mapping: dict[str, str] | None = None,
) -> ImportReport:
    """Import ``path`` into the list and commit."""
    report = import_file(session, path, ImportTarget(mailing_list.id, mode, path.name), mapping)
    session.commit()
    return report
