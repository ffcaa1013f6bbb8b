"""Cursor pagination for the API: opaque base64 cursors over (sort value, id) keysets.

Every list endpoint walks an index in id order; a page is ``LIMIT n+1`` after the cursor,
never ``OFFSET`` (cost independent of how deep the client pages).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from service.web.api.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Ids beyond this cannot exist (64-bit keys); a bigger one in a cursor is a forgery.
MAX_ID = 2**63 - 1


def encode(payload: Sequence[Any]) -> str:
    """An opaque URL-safe cursor for ``payload`` (a small JSON list)."""
    raw = json.dumps(list(payload), ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> list[Any]:
    """The payload of a cursor; ``ApiError(400, bad_cursor)`` for anything mangled."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise bad_cursor() from exc
    if not isinstance(value, list) or not value or not all(_clean(v) for v in value):
        raise bad_cursor()
    return value


def _clean(value: Any) -> bool:
    """A cursor holds ints, strings and nulls only, and strings a database can store."""
    if isinstance(value, str):
        return _encodable(value)
    return value is None or isinstance(value, int)


def _encodable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def bad_cursor() -> ApiError:
    """The error for a cursor this API did not make."""
    return ApiError(400, "bad_cursor", "the cursor is not one this API returned")


def decode_id(token: str | None, kind: str) -> int | None:
    """The last id of an id-keyset cursor of ``kind`` (None for the first page)."""
    if not token:
        return None
    value = decode(token)
    if len(value) != 2 or value[0] != kind:
        raise bad_cursor()
    row_id = value[1]
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id <= MAX_ID:
        raise bad_cursor()
    return row_id


def page_by_id(
    session: Session,
    query: Select[Any],
    id_column: Any,
    kind: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """Rows of ``query`` newest first (id descending) after ``cursor``, and the next cursor."""
    after = decode_id(cursor, kind)
    if after is not None:
        query = query.where(id_column < after)
    rows = list(session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode([kind, rows[-1].id]) if more and rows else None
    return rows, next_cursor
