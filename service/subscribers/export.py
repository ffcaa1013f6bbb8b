"""Export a list or a filter result as CSV (UTF-8 with BOM, so Excel shows Chinese) or
XLSX, streamed: rows are read in id-keyset chunks and written as they come."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import Membership, Subscriber
from service.spreadsheets import csv_pieces
from service.spreadsheets import write_xlsx as write_table
from service.subscribers.query import SubscriberFilter, filtered

CHUNK = 1000
BASE_COLUMNS = ["email", "name", "organisation", "language", "status", "created_at"]


def _walk(session: Session, flt: SubscriberFilter, *columns: Any) -> Iterator[Any]:
    last = 0
    while True:
        rows = session.execute(
            filtered(flt, Subscriber.id, *columns)
            .where(Subscriber.id > last)
            .order_by(Subscriber.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def attribute_keys(session: Session, flt: SubscriberFilter) -> list[str]:
    """Every attribute name used by the matching subscribers (one column each)."""
    keys: dict[str, None] = {}
    for _id, attributes in _walk(session, flt, Subscriber.attributes):
        for key in attributes or {}:
            keys.setdefault(str(key), None)
    return list(keys)


def _member_status(session: Session, list_id: int | None, ids: list[int]) -> dict[int, str]:
    if not list_id:
        return {}
    return dict(
        session.execute(
            select(Membership.subscriber_id, Membership.status).where(
                Membership.list_id == list_id, Membership.subscriber_id.in_(ids)
            )
        ).all()
    )


def rows(session: Session, flt: SubscriberFilter) -> Iterator[list[str]]:
    """The header row, then one row per subscriber, as text cells."""
    keys = attribute_keys(session, flt)
    header = BASE_COLUMNS + (["list_status"] if flt.list_id else []) + keys
    yield header
    batch: list[int] = []
    for (subscriber_id,) in _walk(session, flt):
        batch.append(subscriber_id)
        if len(batch) == CHUNK:
            yield from _rows_of(session, flt, batch, keys)
            batch = []
    if batch:
        yield from _rows_of(session, flt, batch, keys)


def _rows_of(
    session: Session, flt: SubscriberFilter, ids: list[int], keys: list[str]
) -> Iterator[list[str]]:
    statuses = _member_status(session, flt.list_id, ids)
    found = session.scalars(
        select(Subscriber).where(Subscriber.id.in_(ids)).order_by(Subscriber.id)
    )
    for sub in found:
        cells = [
            sub.email,
            sub.name,
            sub.organisation,
            sub.language,
            sub.status,
            sub.created_at.isoformat(timespec="seconds"),
        ]
        if flt.list_id:
            cells.append(statuses.get(sub.id, ""))
        attributes = sub.attributes or {}
        cells += [attributes.get(k, "") for k in keys]
        yield ["" if c is None else str(c) for c in cells]
    session.expunge_all()  # keep the identity map (and memory) flat


def csv_stream(session: Session, flt: SubscriberFilter) -> Iterator[bytes]:
    """The CSV file in pieces (UTF-8 with BOM)."""
    return csv_pieces(rows(session, flt))


def write_xlsx(session: Session, flt: SubscriberFilter, path: Path) -> Path:
    """Write the XLSX file to ``path`` (streaming workbook)."""
    write_table(rows(session, flt), str(path), "subscribers")
    return path
