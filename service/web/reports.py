"""Admin pages for delivery reports."""

from __future__ import annotations

from typing import Any

from flask import render_template
from sqlalchemy import select

from service.models import Campaign
from service.web.context import db_session
from service.web.roles import staff_blueprint

bp = staff_blueprint("reports", __name__)
PAGE_SIZE = 50


@bp.route("/reports")
def index() -> Any:
    """Delivery reports across campaigns."""
    rows = db_session().scalars(select(Campaign).order_by(Campaign.id.desc())).all()
    return render_template("reports.html", campaigns=rows)
