"""A chunk's values as ONE bound parameter: ``column IN values`` for the lookups, and the
joined arrays the PostgreSQL writes unnest.

Both the lookups (``import_plan``) and the writes (``import_writes``) pass a thousand
values per statement in the same way, so the encoding (and its separator) lives here once.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ARRAY, any_, bindparam, func, literal, literal_column, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from service.db import is_postgresql

PG_SEPARATOR = "\n"  # joins the values of an array parameter (see one_of)


def one_of(session: Session, column: Any, values: list[Any], item_type: Any) -> Any:
    """``column IN values`` with ONE parameter, so the statement text is the same for
    every chunk: PostgreSQL ``= ANY(array)``; SQLite ``IN (SELECT value FROM json_each)``.

    A thousand placeholders would cost psycopg a parse per chunk, and on SQLite every
    distinct text is a prepared statement kept in the connection's cache (128 of them,
    hundreds of KB each for a long IN list: tens of MB that grew with the file). On
    PostgreSQL the array travels as one joined string: psycopg adapts a Python list of a
    thousand strings in ≈ 3.8 ms, the server splits the string in ≈ 0.1 ms (timed once
    with psycopg 3.3 against PostgreSQL 15; bench/import.py shows the whole import).
    """
    if is_postgresql(session):
        return column == any_(sql_cast(_pg_array(values), ARRAY(item_type)))
    return column.in_(
        select(literal_column("value")).select_from(
            func.json_each(bindparam(None, json.dumps(values, ensure_ascii=False)))
        )
    )


def _pg_array(values: list[Any]) -> Any:
    # Newline-joined: no validated address, hash or id contains one.
    return func.string_to_array(bindparam(None, joined(values)), literal(PG_SEPARATOR))


def joined(values: list[Any]) -> str:
    """``values`` as one string for PostgreSQL's ``string_to_array(…, PG_SEPARATOR)``."""
    return PG_SEPARATOR.join(str(v) for v in values)
