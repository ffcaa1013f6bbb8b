"""Admin pages for segments: the saved filters campaigns can use, each with how many
subscribers match it now; a form of condition rows that works without JavaScript.

Thin views over ``service.subscribers.segments``: the form's rows become the JSON
conditions the domain checks, and a refusal shows the form again as it was typed.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from service.model import Segment
from service.subscribers import segments as domain
from service.subscribers.organisations import LEVELS
from service.web.context import db_session
from service.web.messages import describe, flash_error
from service.web.roles import current_user_id, require_role, staff_blueprint

bp = staff_blueprint("segments", __name__)
# Empty rows the form offers below the conditions already there.
BLANK_ROWS = 2
# The fields of a form row, each named "<field>_<row>".
ROW_FIELDS = ("text", "key", "value", "last")
KIND_LABELS = {
    "org_level_in": _l("Organisation level is one of"),
    "org_level_not_in": _l("Organisation level is none of"),
    "org_name_contains": _l("Organisation name contains"),
    "attribute_equals": _l("Subscriber attribute equals"),
    "org_attribute_equals": _l("Organisation attribute equals"),
    "has_organisation": _l("Has an organisation"),
    "no_organisation": _l("Has no organisation"),
    "opened_none": _l("Opened none of the last N campaigns sent to them"),
    "opened_any": _l("Opened at least one of the last N campaigns sent to them"),
    "clicked_none": _l("Clicked in none of the last N campaigns sent to them"),
}


def condition_text(condition: dict[str, Any]) -> str:
    """One stored condition in the reader's language, e.g. "Organisation level is one of:
    理事单位"."""
    label = str(KIND_LABELS.get(condition.get("kind", ""), condition.get("kind", "")))
    if "levels" in condition:
        return _("%(label)s: %(values)s", label=label, values="、".join(condition["levels"]))
    if "text" in condition:
        return _("%(label)s: %(values)s", label=label, values=condition["text"])
    if "key" in condition:
        pair = f"{condition['key']} = {condition['value']}"
        return _("%(label)s: %(values)s", label=label, values=pair)
    if "last" in condition:
        return _("%(label)s (N = %(n)s)", label=label, n=condition["last"])
    return label


def _rows_from(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The form rows showing stored ``conditions``, plus blank ones."""
    rows = [
        {
            "kind": c.get("kind", ""),
            "levels": list(c.get("levels", [])),
            **{name: str(c.get(name, "")) for name in ROW_FIELDS},
        }
        for c in conditions
    ]
    return rows + [_blank() for _ in range(BLANK_ROWS)]


def _blank() -> dict[str, Any]:
    return {"kind": "", "levels": [], **dict.fromkeys(ROW_FIELDS, "")}


def _rows_posted() -> list[dict[str, Any]]:
    """The rows as typed (every one, blank ones too, so the form comes back the same)."""
    count = min(request.form.get("rows", type=int) or 0, domain.MAX_CONDITIONS + BLANK_ROWS)
    return [
        {
            "kind": request.form.get(f"kind_{i}", "").strip(),
            "levels": request.form.getlist(f"levels_{i}"),
            **{name: request.form.get(f"{name}_{i}", "") for name in ROW_FIELDS},
        }
        for i in range(count)
    ]


def _conditions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conditions the rows with a kind say: each with the fields its kind takes (an
    unknown kind goes to the domain as it is, which names it)."""
    out = []
    for row in rows:
        if not row["kind"]:
            continue
        kind = domain.KINDS.get(row["kind"])
        fields = kind.fields if kind is not None else ()
        out.append({"kind": row["kind"], **{name: row[name] for name in fields}})
    return out


def _segment(session: Session, segment_id: int) -> Segment:
    row = session.get(Segment, segment_id)
    if row is None:
        abort(404)
    return row


@bp.route("/segments")
@require_role("editor")
def index() -> Any:
    """Every segment with its conditions, how many match now and the campaigns using it."""
    session = db_session()
    items = [
        {
            "segment": row,
            "conditions": [condition_text(c) for c in row.conditions or []],
            "count": domain.count(session, row.conditions or []),
            "using": domain.campaigns_using(session, row.id),
        }
        for row in domain.all_segments(session)
    ]
    return render_template("segments/index.html", items=items)


def _form(segment: Segment | None) -> Any:
    """The create (``segment`` None) or edit form, and what its POST does."""
    session = db_session()
    error = None
    name = segment.name if segment is not None else ""
    rows = _rows_from(list(segment.conditions or []) if segment is not None else [])
    if request.method == "POST":
        name, rows = request.form.get("name", ""), _rows_posted()
        try:
            if segment is None:
                segment = domain.create_segment(
                    session, name, _conditions(rows), current_user_id(), request.remote_addr
                )
            else:
                domain.update_segment(
                    session,
                    segment.id,
                    name,
                    _conditions(rows),
                    current_user_id(),
                    request.remote_addr,
                )
            session.commit()
            flash(_("Segment saved."), "info")
            return redirect(url_for("segments.index"))
        except domain.SegmentError as exc:
            session.rollback()
            error = describe(exc)
            segment = session.get(Segment, segment.id) if segment is not None else None
    stored = list(segment.conditions or []) if segment is not None else []
    return render_template(
        "segments/form.html",
        segment=segment,
        name=name,
        rows=rows,
        kinds=KIND_LABELS,
        levels=LEVELS,
        error=error,
        count=domain.count(session, stored) if segment is not None else None,
        using=domain.campaigns_using(session, segment.id) if segment is not None else [],
    ), (400 if error else 200)


@bp.route("/segments/new", methods=["GET", "POST"])
@require_role("editor")
def new() -> Any:
    """A new segment: a name and its conditions."""
    return _form(None)


@bp.route("/segments/<int:segment_id>", methods=["GET", "POST"])
@require_role("editor")
def edit(segment_id: int) -> Any:
    """Change a segment's name or conditions (campaigns not started yet use the new ones)."""
    return _form(_segment(db_session(), segment_id))


@bp.route("/segments/<int:segment_id>/delete", methods=["POST"])
@require_role("editor")
def delete(segment_id: int) -> Any:
    """Delete a segment no unfinished campaign uses (else say which do)."""
    session = db_session()
    _segment(session, segment_id)
    try:
        domain.delete_segment(session, segment_id, current_user_id(), request.remote_addr)
    except domain.SegmentError as exc:
        session.rollback()
        flash_error(exc)
        return redirect(url_for("segments.edit", segment_id=segment_id))
    session.commit()
    flash(_("Segment deleted."), "info")
    return redirect(url_for("segments.index"))
