"""The capture's index is only a list of the files: without it, or of another version, it
is rebuilt from the envelopes on disk, in the order they arrived."""

from __future__ import annotations

import sqlite3
from email.message import EmailMessage
from pathlib import Path

from service.mail.capture import CaptureStore
from service.mail.capture_index import INDEX_NAME, NO_CAMPAIGN, SCHEMA_VERSION, OutboxQuery


def _mail(subject: str, campaign_id: int | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "news@example.org"
    msg["To"] = "reader@example.org"
    msg["Subject"] = subject
    if campaign_id is not None:
        msg["Feedback-ID"] = f"c{campaign_id}:newsletter:tidings"
    msg.set_content("正文")
    return msg.as_bytes()


def _fill(folder: Path) -> list[str]:
    store = CaptureStore(folder)
    ids = [
        store.save(_mail("第一期", campaign_id=7), "b@example.org", ["a@example.org"]),
        store.save(_mail("请确认订阅"), "b@example.org", ["c@example.org"]),
        store.save(_mail("第二期", campaign_id=7), "b@example.org", ["d@example.org"]),
    ]
    store.index().close()
    return ids


def test_a_folder_whose_index_was_deleted_is_listed_again_from_its_envelopes(
    tmp_path: Path,
) -> None:
    saved = _fill(tmp_path)
    (tmp_path / INDEX_NAME).unlink()
    store = CaptureStore(tmp_path)
    assert store.ids() == list(reversed(saved))  # newest first, as before
    assert store.campaign_counts() == {7: 2, NO_CAMPAIGN: 1}
    page = store.search(OutboxQuery(text="第二期"))
    assert [e.id for e in page.entries] == [saved[2]]


def test_an_index_of_another_schema_version_is_rebuilt_not_read(tmp_path: Path) -> None:
    saved = _fill(tmp_path)
    with sqlite3.connect(tmp_path / INDEX_NAME) as conn:
        conn.execute("DELETE FROM messages")  # what an older layout would not show
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    store = CaptureStore(tmp_path)
    assert store.count() == 3
    assert store.ids() == list(reversed(saved))


def test_clear_empties_both_the_folder_and_the_index(tmp_path: Path) -> None:
    _fill(tmp_path)
    store = CaptureStore(tmp_path)
    assert store.clear() == 3
    assert store.ids() == [] and store.count() == 0 and store.campaign_counts() == {}
    assert not list(tmp_path.glob("*.json"))
