"""The audit log page: admins read who did what, filtered and a page at a time."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.accounts.users import user_by_email
from service.ops import audit_log


def _fill(session: Session, user_id: int | None, count: int, action: str) -> None:
    for i in range(count):
        # A note no page text or random nonce can contain by chance.
        audit(session, user_id, action, "campaign", i, "192.0.2.1", note=f"note-{i}-of-fill")
    session.commit()


def test_an_admin_reads_the_newest_entries_with_who_what_and_details(
    logged_in: FlaskClient, session: Session
) -> None:
    admin = user_by_email(session, "admin@example.org")
    assert admin is not None
    _fill(session, admin.id, 2, "campaign.start")
    html = logged_in.get("/audit").get_data(as_text=True)
    assert html.count('data-action="campaign.start"') == 2
    assert "admin@example.org" in html and "192.0.2.1" in html and "note-1-of-fill" in html
    assert html.index("note-1-of-fill") < html.index("note-0-of-fill")  # newest first


def test_the_log_filters_by_user_and_by_action_prefix(
    logged_in: FlaskClient, session: Session
) -> None:
    admin = user_by_email(session, "admin@example.org")
    assert admin is not None
    _fill(session, admin.id, 2, "campaign.pause")
    _fill(session, None, 3, "import.start")
    by_action = logged_in.get("/audit?action=campaign").get_data(as_text=True)
    assert (
        'data-action="campaign.pause"' in by_action
        and 'data-action="import.start"' not in by_action
    )
    by_user = logged_in.get(f"/audit?user={admin.id}").get_data(as_text=True)
    # The admin's own login is in the log too.
    assert (
        'data-action="import.start"' not in by_user
        and by_user.count('data-action="campaign.pause"') == 2
    )


def test_the_log_pages_by_keyset_without_gaps_or_repeats(session: Session) -> None:
    _fill(session, None, 7, "subscriber.erase")
    seen: list[int] = []
    before = None
    while True:
        page = audit_log.search(session, before=before, page_size=3)
        seen += [entry.id for entry, _email in page.rows]
        if page.next_before is None:
            break
        before = page.next_before
    assert len(seen) == 7 and seen == sorted(seen, reverse=True) and len(set(seen)) == 7


def test_an_empty_filter_says_what_to_do_next(logged_in: FlaskClient) -> None:
    logged_in.get("/lang/en")
    html = logged_in.get("/audit?action=nothing.like.this").get_data(as_text=True)
    assert "No entries match" in html


def test_bad_filter_values_are_ignored_not_errors(logged_in: FlaskClient) -> None:
    assert logged_in.get("/audit?user=abc&before=x&action=" + "a" * 500).status_code == 200
