"""The audit log page: who did what, when, from where (admins only)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from service.ops import audit_log
from service.web.context import db_session
from service.web.roles import require_role, staff_blueprint

bp = staff_blueprint("audit", __name__)
MAX_ACTION_LENGTH = 64


@bp.route("/audit")
@require_role("admin")
def index() -> Any:
    """Newest entries first; filter by user and action; "older" pages by keyset."""
    session = db_session()
    user_id = request.args.get("user", type=int)
    action = request.args.get("action", "").strip()[:MAX_ACTION_LENGTH]
    before = request.args.get("before", type=int)
    page = audit_log.search(session, user_id=user_id, action=action, before=before)
    return render_template(
        "audit/index.html",
        page=page,
        user_id=user_id,
        action=action,
        before=before,
        actions=audit_log.known_actions(session),
        staff=audit_log.staff_choices(session),
    )
