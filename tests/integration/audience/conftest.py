"""Fixtures of the audience tests: a list, and helpers to run an import and to upload
a file through the admin's import form."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from service.model import MailingList
from service.subscribers.import_terms import ImportReport, ImportTarget
from service.subscribers.importer import import_file
from service.subscribers.lists import create_list
from tests.conftest import csrf_token

IMPORT_FORM = "/subscribers/import"


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


def upload(
    client: FlaskClient,
    list_id: int,
    name: str,
    data: bytes,
    mode: str = "add",
    token: str | None = None,
) -> TestResponse:
    """Post ``data`` as the file ``name`` to the import form, as a browser does (multipart,
    with the form's CSRF token, fetched unless ``token`` is given)."""
    return client.post(
        IMPORT_FORM,
        data={
            "csrf_token": token or csrf_token(client, IMPORT_FORM),
            "list_id": list_id,
            "mode": mode,
            "file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )
