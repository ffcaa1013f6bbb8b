"""A real (in-memory SQLite) schema for the issue store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from service.model import Base


@pytest.fixture
def db() -> Iterator[Session]:
    """A session on a fresh in-memory database with every table."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()
