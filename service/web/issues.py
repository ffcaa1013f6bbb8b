"""Admin pages for issues of the journal."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template
from sqlalchemy import select

from service.models import Issue
from service.web.context import db_session
from service.web.roles import staff_blueprint

bp = staff_blueprint("issues", __name__)
PAGE_SIZE = 50


@bp.route("/issues")
def index() -> Any:
    """Every issue, newest first."""
    rows = db_session().scalars(select(Issue).order_by(Issue.id.desc())).all()
    return render_template("issues.html", issues=rows)


@bp.route("/issues/<int:issue_id>")
def issue(issue_id: int) -> Any:
    """One issue: its structure when imported, and the original document."""
    row = db_session().get(Issue, issue_id) or abort(404)
    source = (row.source_data or b"").decode("utf-8", "replace")
    return render_template("issue.html", issue=row, source=source)
