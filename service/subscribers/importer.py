"""Subscriber import from CSV or XLSX: the whole file, chunk after chunk.

The one entry point (``import_file``, used by the CLI, the worker's job and the API) and
the pipeline around the stages: a reader thread parses chunks of ``CHUNK_ROWS`` rows
ahead (``import_rows``), each chunk is planned on the caller's session (``import_plan``)
and written (``import_writes``) there on SQLite, or on ``WRITERS`` connections of its own
on PostgreSQL. Each chunk costs three lookups and at most four bulk statements, whatever
its size. An import never resubscribes anyone who unsubscribed or is suppressed, and a bad
row never stops the good ones.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import is_postgresql
from service.model import MailingList
from service.subscribers.import_columns import complete_mapping
from service.subscribers.import_plan import ChunkPlan, plan_chunk
from service.subscribers.import_rows import Candidate, RowParser
from service.subscribers.import_terms import MODES, ImportReport, ImportSetupError, ImportTarget
from service.subscribers.import_writes import write_plan
from service.subscribers.tabular import FileFormatError, TableInfo, count_rows, iter_rows, sniff

CHUNK_ROWS = 1000
# Chunks parsed ahead of the one being written (memory: this many chunks at most).
READ_AHEAD_CHUNKS = 2
READ_AHEAD_POLL_SECONDS = 0.2
WRITERS = 2  # PostgreSQL connections writing chunks side by side (the machine's 2 cores)


def resolve_list(session: Session, slug_or_id: str | int) -> MailingList:
    """The list named by its slug (CLI) or id (web); ``ImportSetupError`` if unknown."""
    column = MailingList.id if isinstance(slug_or_id, int) else MailingList.slug
    found = session.scalar(select(MailingList).where(column == slug_or_id))
    if found is None:
        raise ImportSetupError("import.no_list", "there is no list %(list)r", list=slug_or_id)
    if found.archived_at is not None:
        raise ImportSetupError(
            "import.list_archived", "the list %(slug)r is archived", slug=found.slug
        )
    return found


def import_file(
    session: Session,
    path: Path,
    target: ImportTarget,
    mapping: dict[str, str] | None = None,
    info: TableInfo | None = None,
    on_chunk: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import ``path`` into ``target.list_id``. ``mapping`` overrides the guessed one.

    ``on_chunk`` is called after each chunk is written (the Celery task commits there and
    publishes progress); raises ``FileFormatError`` / ``ImportSetupError`` before writing
    anything when the file or the settings are unusable, and ``FileFormatError`` when the
    file held no data row at all.
    """
    if target.mode not in MODES:
        raise ImportSetupError(
            "import.bad_mode", "the mode must be one of %(modes)s", modes=", ".join(MODES)
        )
    info = info or sniff(path)
    full_mapping = complete_mapping(info.headers, mapping)
    report = ImportReport(encoding=info.encoding_label, delimiter=info.delimiter)
    report.total = count_rows(path, info)
    parser = RowParser(info.headers, full_mapping, report)
    chunks = _read_ahead(_parsed_chunks(path, info, parser))
    write_chunks = _import_in_parallel if is_postgresql(session) else _import_in_turn
    write_chunks(session, chunks, target, report, on_chunk)
    if report.processed == 0:
        # Every row was blank (or the sheet was only a header): nothing was read, and
        # saying "added 0" would look like success.
        raise FileFormatError("file.nothing_read", "no data rows were read from the file")
    report.errors.sort(key=lambda e: e["line"])  # duplicates are found at chunk time
    report.total = report.processed  # the line count was an estimate (empty lines, quotes)
    return report


def _parsed_chunks(
    path: Path, info: TableInfo, parser: RowParser
) -> Iterator[tuple[list[Candidate], int]]:
    """Chunks of ``CHUNK_ROWS`` rows as candidates, with the count of rows read so far."""
    chunk: list[Candidate] = []
    processed = 0
    for line, cells in iter_rows(path, info):
        processed += 1
        candidate = parser.parse(line, cells)
        if candidate is not None:
            chunk.append(candidate)
        if processed % CHUNK_ROWS == 0:
            yield chunk, processed
            chunk = []
    yield chunk, processed


@dataclass
class _Failure:
    error: BaseException


_DONE = object()


def _read_ahead(items: Iterator[Any], depth: int = READ_AHEAD_CHUNKS) -> Iterator[Any]:
    """Produce ``items`` in a thread, at most ``depth`` ahead of the consumer.

    Parsing is Python work and writing is mostly waiting for the database, so the next
    chunk is parsed while this one is written. The bounded queue keeps memory flat; an
    error in the reader (a broken file) is raised here, in the caller's thread.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=READ_AHEAD_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failure(exc))
            return
        put(_DONE)

    reader = threading.Thread(target=produce, name="import-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()  # the consumer stopped early (an error while writing): release the reader
        reader.join()


def _import_in_turn(
    session: Session,
    chunks: Iterator[tuple[list[Candidate], int]],
    target: ImportTarget,
    report: ImportReport,
    on_chunk: Callable[[ImportReport], None] | None,
) -> None:
    """SQLite (one writer at a time): plan and write each chunk on ``session``, one after
    another, uncommitted (the caller, or ``on_chunk``, commits)."""
    for chunk, processed in chunks:
        report.processed = processed
        plan = plan_chunk(session, chunk, target, report, set())
        report.added += write_plan(session, plan, target)
        if on_chunk is not None:
            on_chunk(report)


def _import_in_parallel(
    session: Session,
    chunks: Iterator[tuple[list[Candidate], int]],
    target: ImportTarget,
    report: ImportReport,
    on_chunk: Callable[[ImportReport], None] | None,
) -> None:
    """PostgreSQL: plan chunks here, write them on ``WRITERS`` connections of their own.

    The server's share of an import (indexes, foreign-key checks: ≈ 40 µs a row) was the
    critical path, one chunk after another on one backend; two backends use both cores
    (bench/import.py: 100,000 rows in ≈ 3.8 s instead of 6–8 s). Each chunk commits on
    its own, as before; progress is reported in file order, once per chunk.
    """
    in_flight: deque[tuple[Future[int], ChunkPlan, int]] = deque()
    writers = threading.local()  # one session (connection) per writer thread
    opened: list[Session] = []
    engine = session.get_bind()

    def write(plan: ChunkPlan) -> int:
        if not hasattr(writers, "session"):
            writers.session = Session(bind=engine)
            opened.append(writers.session)
        try:
            added = write_plan(writers.session, plan, target)
            writers.session.commit()
            return added
        except BaseException:
            writers.session.rollback()
            raise

    def settle_oldest() -> None:
        future, _plan, processed = in_flight.popleft()
        report.added += future.result()  # re-raises a writer's error here
        report.processed = processed
        if on_chunk is not None:
            on_chunk(report)

    try:
        # At most WRITERS chunks are in flight, each on a thread of its own: none waits in
        # the pool's queue, so after an error its exit only waits for the running writes.
        with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="import-writer") as pool:
            for chunk, processed in chunks:
                if len(in_flight) >= WRITERS:
                    settle_oldest()
                busy: set[str] = set().union(*(plan.emails for _f, plan, _p in in_flight))
                plan = plan_chunk(session, chunk, target, report, busy)
                session.commit()  # end the lookup's snapshot: the next one sees new commits
                in_flight.append((pool.submit(write, plan), plan, processed))
            while in_flight:
                settle_oldest()
    finally:
        # Also after an error: the pool's exit has waited for the writers, so none still
        # uses its session (connection) when it is closed here.
        for writer_session in opened:
            writer_session.close()
