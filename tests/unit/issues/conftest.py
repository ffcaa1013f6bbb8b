"""Fixtures for the issue tests: sample files, a tiny .docx writer, and a real (in-memory
SQLite) schema for the issue store."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from service.issues import store
from service.issues.importer import import_markdown
from service.issues.structure import IssueDoc
from service.model import Base, Issue
from tests.documents import DATA, DEMO_PATH, Paragraph, build_docx


@pytest.fixture
def make_docx() -> Callable[[Sequence[Paragraph]], bytes]:
    """A function that builds .docx bytes from (style, runs) paragraphs."""
    return build_docx


@pytest.fixture(scope="session")
def demo_text() -> str:
    """The real quarterly issue of the trade association, as Markdown."""
    return DEMO_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def demo_doc(demo_text: str) -> IssueDoc:
    """The demo issue, imported once for all tests that only read it."""
    return import_markdown(demo_text)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of sample documents."""
    return DATA


@pytest.fixture
def db() -> Iterator[Session]:
    """A session on a fresh in-memory database with every table."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def demo(db: Session) -> Issue:
    """The demo issue imported into ``db``."""
    return store.create_issue_from_document(db, DEMO_PATH.name, DEMO_PATH.read_bytes())
