"""The Outbox: search by address and subject, a campaign filter, keyset pages that keep
the filter, and query strings that are wrong but never a 500."""

from __future__ import annotations

import re
import secrets
from email.message import EmailMessage
from html import unescape

from flask.testing import FlaskClient

from service.mail.capture import CaptureStore


def _save(store: CaptureStore, subject: str, rcpt: str, campaign_id: int | None = None) -> str:
    """Store a message as the capture server would, with a campaign's headers if any."""
    msg = EmailMessage()
    msg["From"] = "news@example.org"
    msg["To"] = rcpt
    msg["Subject"] = subject
    if campaign_id is not None:
        msg["Message-ID"] = f"<c{campaign_id}.d1.abcdef123456@example.org>"
        msg["Feedback-ID"] = f"c{campaign_id}:newsletter:tidings"
    msg.set_content("正文")
    return store.save(msg.as_bytes(), "bounce@example.org", [rcpt])


def _ids(body: str) -> list[str]:
    return re.findall(r'href="/outbox/(\d{19}-[0-9a-f]{8})"', body)


def _campaign() -> int:
    return 800_000 + secrets.randbelow(100_000)


def test_search_finds_an_address_case_insensitively_and_a_chinese_subject(
    logged_in: FlaskClient, capture: CaptureStore
) -> None:
    tag = secrets.token_hex(4)
    by_address = _save(capture, "周报", f"Reader.{tag}@Example.ORG")
    by_subject = _save(capture, f"第十二期 {tag} 数字贸易周报", "someone@example.org")
    body = logged_in.get("/outbox", query_string={"q": f"reader.{tag}@example"}).get_data(
        as_text=True
    )
    assert _ids(body) == [by_address]
    body = logged_in.get("/outbox", query_string={"q": f"{tag} 数字贸易"}).get_data(as_text=True)
    assert _ids(body) == [by_subject]
    # Two characters have no trigram: the scan path finds the same mail.
    body = logged_in.get("/outbox", query_string={"q": "周报"}).get_data(as_text=True)
    assert {by_address, by_subject} <= set(_ids(body))


def test_the_campaign_filter_lists_only_that_campaigns_mail(
    logged_in: FlaskClient, capture: CaptureStore
) -> None:
    campaign = _campaign()
    mine = _save(capture, "群发 A", "a@example.org", campaign_id=campaign)
    other = _save(capture, "群发 B", "b@example.org", campaign_id=campaign + 1)
    listing = logged_in.get("/outbox").get_data(as_text=True)
    assert f'<option value="{campaign}"' in listing  # the filter offers it
    body = logged_in.get("/outbox", query_string={"campaign": campaign}).get_data(as_text=True)
    assert _ids(body) == [mine] and other not in body


def test_pages_keep_the_filter_and_walk_the_whole_result(
    logged_in: FlaskClient, capture: CaptureStore
) -> None:
    campaign, tag = _campaign(), secrets.token_hex(4)
    saved = [_save(capture, f"{tag} 第{i}封", f"r{i}@example.org", campaign) for i in range(57)]
    _save(capture, f"{tag} 别的群发", "x@example.org", campaign + 1)
    url: str | None = f"/outbox?q={tag}&campaign={campaign}"
    seen: list[str] = []
    while url:
        body = logged_in.get(url).get_data(as_text=True)
        seen += _ids(body)
        nxt = re.search(r'<a rel="next" href="([^"]+)"', body)
        url = unescape(nxt.group(1)) if nxt else None
        if url:
            assert f"q={tag}" in url and f"campaign={campaign}" in url
    assert seen == saved[::-1]  # newest first, each once, none of the other campaign
    # The page before the last one, reached back through its "Previous page" link.
    previous = re.search(r'href="([^"]*after=[^"]+)"', body)
    assert previous is not None and f"campaign={campaign}" in unescape(previous.group(1))
    back = logged_in.get(unescape(previous.group(1))).get_data(as_text=True)
    assert _ids(back) == saved[::-1][:50]


def test_a_search_without_results_says_so(logged_in: FlaskClient) -> None:
    body = logged_in.get("/outbox", query_string={"q": secrets.token_hex(8)}).get_data(as_text=True)
    assert _ids(body) == []
    assert "没有符合此搜索条件的已捕获邮件" in body or "No captured message matches" in body


def test_malformed_query_parameters_are_ignored_not_a_500(logged_in: FlaskClient) -> None:
    for query in (
        {"campaign": "abc"},
        {"campaign": "-3"},
        {"before": "1e9"},
        {"after": "'; DROP TABLE messages; --"},
        {"q": '"unbalanced AND OR NEAR('},
        {"q": "x" * 10_000},
        {"q": "%_\\"},
        {"campaign": str(2**80)},
    ):
        response = logged_in.get("/outbox", query_string=query)
        assert response.status_code == 200, query


def test_the_index_is_rebuilt_from_the_files_when_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = CaptureStore(tmp_path)
    first = _save(store, "一", "a@example.org", campaign_id=7)
    second = _save(store, "二", "b@example.org")
    store.index().close()
    store.index().path.unlink()
    rebuilt = CaptureStore(tmp_path)
    assert rebuilt.ids() == [second, first]
    assert rebuilt.campaign_counts() == {7: 1, 0: 1}
