"""The index of the SMTP capture: one SQLite file beside the captured messages.

The messages stay files (``capture.py``); this file only lists them, so the Outbox can
show a page, search addresses and subjects and filter by campaign without opening
100,000 envelopes. It can always be rebuilt from the files (``CaptureStore.reindex``).

Pages are keyset pages on ``seq`` (the order messages were indexed, newest last), so a
page deep in the list costs what the first does. Substring search goes through an FTS5
trigram table (case-insensitive, any script), which walks its matches in ``seq`` order and
stops at the page; a campaign's filter narrows that walk to the campaign's range of
``seq``. A search shorter than three characters has no trigram: it scans the table, which
at 100,000 messages takes tens of milliseconds (bench/README.md).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INDEX_NAME = "index.sqlite3"
# The trigram tokenizer needs three characters; a shorter search scans instead.
TRIGRAM = 3
# Counting every match of a broad search walks all of them; past this it says "more than".
COUNT_CAP = 1_000
# Bump when the schema changes: an index of another version is rebuilt from the files.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_tos TEXT NOT NULL,
    subject TEXT NOT NULL,
    size INTEGER NOT NULL,
    campaign_id INTEGER
);
CREATE INDEX IF NOT EXISTS messages_campaign ON messages (campaign_id);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
    rcpt_tos, mail_from, subject, content='messages', content_rowid='seq',
    tokenize='trigram'
);
CREATE TABLE IF NOT EXISTS campaign_counts (
    campaign_id INTEGER PRIMARY KEY,
    messages INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
"""
_DROP = "DROP TABLE IF EXISTS messages_fts; DROP TABLE IF EXISTS messages;"
_DROP += " DROP TABLE IF EXISTS campaign_counts;"
_COLUMNS = "m.seq, m.id, m.received_at, m.mail_from, m.rcpt_tos, m.subject, m.size, m.campaign_id"
# Mail that belongs to no campaign (confirmations, welcomes) is counted under 0.
NO_CAMPAIGN = 0


@dataclass(frozen=True)
class IndexEntry:
    """One captured message as the index holds it."""

    seq: int
    id: str
    received_at: float
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    size: int
    campaign_id: int | None


@dataclass(frozen=True)
class OutboxQuery:
    """What the Outbox asks for: a filter and a keyset position."""

    text: str = ""
    campaign_id: int | None = None
    before: int | None = None  # older than this seq (the next page)
    after: int | None = None  # newer than this seq (the previous page)
    limit: int = 50


@dataclass(frozen=True)
class OutboxPage:
    """One page of entries, newest first, and the cursors either side of it."""

    entries: list[IndexEntry]
    newer: int | None  # pass as ``after`` for the page before
    older: int | None  # pass as ``before`` for the page after


class CaptureIndex:
    """The SQLite index of one capture folder; safe to share between threads."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / INDEX_NAME
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> bool:
        """Open the index; True if it was created just now (new, or of another version),
        so it holds nothing yet."""
        with self._lock:
            if self._conn is not None:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            # WAL: the web reads while the capture writes; NORMAL: no fsync per message
            # (a crash may lose the last few entries, and reindex() brings them back).
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            fresh = version != SCHEMA_VERSION
            if fresh:
                conn.executescript(_DROP + _SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")
            self._conn = conn
            return fresh

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("CaptureIndex.open() first")
        return self._conn

    def close(self) -> None:
        """Close the connection (the next call opens it again)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def add(self, entries: Iterable[dict[str, Any]]) -> None:
        """Index messages (dicts with the envelope's keys, ``id`` and ``campaign_id``),
        in one transaction; an id already indexed is skipped."""
        with self._lock, self._db() as conn:
            for entry in entries:
                self._add_one(conn, entry)

    def _add_one(self, conn: sqlite3.Connection, e: dict[str, Any]) -> None:
        rcpts = ", ".join(e["rcpt_tos"])
        cur = conn.execute(
            "INSERT OR IGNORE INTO messages (id, received_at, mail_from, rcpt_tos, subject,"
            " size, campaign_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (e["id"], e["received_at"], e["mail_from"], rcpts, e["subject"], e["size"],
             e.get("campaign_id")),
        )  # fmt: skip
        if cur.rowcount == 0:
            return
        conn.execute(
            "INSERT INTO messages_fts (rowid, rcpt_tos, mail_from, subject) VALUES (?, ?, ?, ?)",
            (cur.lastrowid, rcpts, e["mail_from"], e["subject"]),
        )
        conn.execute(
            "INSERT INTO campaign_counts VALUES (:campaign, 1, :seq, :seq)"
            " ON CONFLICT (campaign_id) DO UPDATE SET messages = messages + 1,"
            " first_seq = min(first_seq, :seq), last_seq = max(last_seq, :seq)",
            {"campaign": e.get("campaign_id") or NO_CAMPAIGN, "seq": cur.lastrowid},
        )

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock, self._db() as conn:
            conn.execute("DELETE FROM messages")
            conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')")
            conn.execute("DELETE FROM campaign_counts")

    def ids(self) -> list[str]:
        """Every indexed id, newest first."""
        with self._lock:
            rows = self._db().execute("SELECT id FROM messages ORDER BY seq DESC").fetchall()
        return [r[0] for r in rows]

    def campaign_counts(self) -> dict[int, int]:
        """Messages per campaign id (``NO_CAMPAIGN`` for the rest); a small table, kept
        up to date on every add, so the total and the filter cost no scan."""
        with self._lock:
            rows = self._db().execute("SELECT campaign_id, messages FROM campaign_counts")
            return dict(rows.fetchall())

    def _campaign_range(self, campaign_id: int) -> tuple[int, int]:
        """The first and last ``seq`` of a campaign's mail ((0, 0) if it has none)."""
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT first_seq, last_seq FROM campaign_counts WHERE campaign_id = ?",
                    (campaign_id,),
                )
                .fetchone()
            )
        return row or (0, 0)

    def count(self, query: OutboxQuery) -> tuple[int, bool]:
        """How many entries match the filter, and whether that is only a lower bound
        (a broad search is counted up to ``COUNT_CAP``)."""
        if not query.text:
            counts = self.campaign_counts()
            if query.campaign_id is None:
                return sum(counts.values()), False
            return counts.get(query.campaign_id, 0), False
        where, params, _ = self._where(query, with_cursor=False)
        sql = f"SELECT count(*) FROM (SELECT 1 {where} LIMIT {COUNT_CAP + 1})"
        with self._lock:
            (n,) = self._db().execute(sql, params).fetchone()
        return min(n, COUNT_CAP), n > COUNT_CAP

    def page(self, query: OutboxQuery) -> OutboxPage:
        """The entries of one page, newest first."""
        where, params, seq = self._where(query, with_cursor=True)
        direction = "ASC" if query.after is not None else "DESC"
        sql = f"SELECT {_COLUMNS} {where} ORDER BY {seq} {direction} LIMIT {query.limit + 1}"
        with self._lock:
            rows = self._db().execute(sql, params).fetchall()
        more = len(rows) > query.limit
        entries = [_entry(r) for r in rows[: query.limit]]
        if query.after is not None:
            entries.reverse()
            newer_exists, older_exists = more, True
        else:
            newer_exists, older_exists = query.before is not None, more
        return OutboxPage(
            entries=entries,
            newer=entries[0].seq if entries and newer_exists else None,
            older=entries[-1].seq if entries and older_exists else None,
        )

    def _where(self, query: OutboxQuery, with_cursor: bool) -> tuple[str, list[Any], str]:
        """FROM and WHERE for a query, and the column to order by."""
        if len(query.text) >= TRIGRAM:
            conds, params, seq = self._trigram_conditions(query)
            # CROSS JOIN: FTS5 drives (in seq order, stopping at the page); left to
            # itself SQLite starts from the campaign index and probes FTS5 row by row.
            source = "FROM messages_fts f CROSS JOIN messages m ON m.seq = f.rowid"
        else:
            conds, params, seq = self._scan_conditions(query)
            source = "FROM messages m"
        if with_cursor and query.after is not None:
            conds.append(f"{seq} > ?")
            params.append(query.after)
        elif with_cursor and query.before is not None:
            conds.append(f"{seq} < ?")
            params.append(query.before)
        where = f"{source} WHERE {' AND '.join(conds)}" if conds else source
        return where, params, seq

    def _trigram_conditions(self, query: OutboxQuery) -> tuple[list[str], list[Any], str]:
        # A phrase of trigrams matches the text as a substring; quotes are doubled.
        conds = ["messages_fts MATCH ?"]
        params: list[Any] = ['"' + query.text.replace('"', '""') + '"']
        if query.campaign_id is not None:
            # The range is applied inside FTS5, which then skips the rest of the list.
            conds += ["f.rowid BETWEEN ? AND ?", "+m.campaign_id = ?"]
            params += [*self._campaign_range(query.campaign_id), query.campaign_id]
        return conds, params, "f.rowid"

    def _scan_conditions(self, query: OutboxQuery) -> tuple[list[str], list[Any], str]:
        conds: list[str] = []
        params: list[Any] = []
        if query.text:
            text = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(
                "(m.rcpt_tos LIKE ? ESCAPE '\\' OR m.mail_from LIKE ? ESCAPE '\\'"
                " OR m.subject LIKE ? ESCAPE '\\')"
            )
            params += [f"%{text}%"] * 3
        if query.campaign_id is not None:
            conds.append("m.campaign_id = ?")
            params.append(query.campaign_id)
        return conds, params, "m.seq"


def _entry(row: tuple[Any, ...]) -> IndexEntry:
    seq, msg_id, received_at, mail_from, rcpts, subject, size, campaign_id = row
    return IndexEntry(
        seq=seq,
        id=msg_id,
        received_at=received_at,
        mail_from=mail_from,
        rcpt_tos=rcpts.split(", ") if rcpts else [],
        subject=subject,
        size=size,
        campaign_id=campaign_id,
    )


def envelope_entry(msg_id: str, meta_json: str) -> dict[str, Any]:
    """An index entry from a message's JSON envelope (for rebuilding the index)."""
    meta: dict[str, Any] = json.loads(meta_json)
    return {"id": msg_id, **meta}
