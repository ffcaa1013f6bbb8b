"""Admin pages for lists and subscribers."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from sqlalchemy import func, select

from service.models import MailingList, Membership, Subscriber
from service.web.context import db_session
from service.web.roles import staff_blueprint

bp = staff_blueprint("audience", __name__)
PAGE_SIZE = 50


@bp.route("/lists")
def lists() -> Any:
    """Every list with its member counts by status."""
    session = db_session()
    rows = session.scalars(select(MailingList).order_by(MailingList.name)).all()
    counts: dict[int, dict[str, int]] = {}
    for list_id, status, n in session.execute(
        select(Membership.list_id, Membership.status, func.count()).group_by(
            Membership.list_id, Membership.status
        )
    ):
        counts.setdefault(list_id, {})[status] = n
    return render_template("lists.html", lists=rows, counts=counts)


@bp.route("/subscribers")
def subscribers() -> Any:
    """Subscribers in id order, a page at a time (keyset: ``?after=<id>``)."""
    after = request.args.get("after", type=int) or 0
    rows = (
        db_session()
        .scalars(
            select(Subscriber)
            .where(Subscriber.id > after)
            .order_by(Subscriber.id)
            .limit(PAGE_SIZE + 1)
        )
        .all()
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    total = db_session().scalar(select(func.count(Subscriber.id)))
    return render_template(
        "subscribers.html",
        subscribers=rows,
        total=total,
        next_after=rows[-1].id if more and rows else None,
        after=after,
    )
