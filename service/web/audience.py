"""Admin pages for lists, subscribers, imports, exports and the suppression list.

Thin views: each parses the request, calls a domain function with the request's session,
commits, and renders or redirects. The domain lives in ``service/subscribers/``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.utils import secure_filename

from service.mail.addresses import InvalidAddress
from service.model import ImportJob, MembershipStatus, SubscriberStatus, SuppressionReason
from service.subscribers import (
    bulk,
    import_columns,
    import_jobs,
    import_terms,
    personal,
    query,
    suppression_list,
)
from service.subscribers import lists as list_domain
from service.subscribers.tabular import FileFormatError, TableInfo
from service.web.context import db_session, settings
from service.web.downloads import subscribers_download
from service.web.messages import describe, flash_error
from service.web.roles import current_user_id, require_role, staff_blueprint

log = logging.getLogger(__name__)

bp = staff_blueprint("audience", __name__)
TEMPLATE_DIR = "audience/"
# Uploads above this get a clear message instead of a long wait (the app's hard limit,
# MAX_CONTENT_LENGTH, is a little higher so this message is the one people see).
MAX_IMPORT_BYTES = 60 * 1024 * 1024
IMPORT_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
PROGRESS_POLL = "every 1s"
MAPPING_CHOICES = ("email", "name", "organisation", "language", "attribute", "ignore")


def _ip() -> str | None:
    return request.remote_addr


def _page(name: str, **context: Any) -> Any:
    return render_template(TEMPLATE_DIR + name, **context)


# --- lists ----------------------------------------------------------------------------


@bp.route("/lists")
@require_role("editor")
def lists() -> Any:
    """Every list with its member counts by status, and a form to add one."""
    session = db_session()
    return _page(
        "lists.html",
        lists=list_domain.all_lists(session),
        counts=list_domain.member_counts(session),
    )


@bp.route("/lists", methods=["POST"])
@require_role("editor")
def list_create() -> Any:
    """Add a list from the form on the lists page."""
    session = db_session()
    try:
        row = list_domain.create_list(
            session,
            request.form.get("slug", ""),
            request.form.get("name", ""),
            request.form.get("description", ""),
            double_opt_in=bool(request.form.get("double_opt_in")),
            **_audience_choice(),
        )
    except list_domain.ListError as exc:
        flash_error(exc)
        return redirect(url_for("audience.lists"))
    from service.accounts.audit import audit

    audit(
        session,
        current_user_id(),
        "list.create",
        "list",
        row.id,
        _ip(),
        slug=row.slug,
        public=row.public,
        double_opt_in=row.double_opt_in,
    )
    session.commit()
    flash(_("List %(name)s added.", name=row.name), "info")
    return redirect(url_for("audience.list_edit", list_id=row.id))


@bp.route("/lists/<int:list_id>", methods=["GET", "POST"])
@require_role("editor")
def list_edit(list_id: int) -> Any:
    """One list: rename, describe, public or private, double opt-in, archive; its counts."""
    session = db_session()
    try:
        row = list_domain.get_list(session, list_id)
    except list_domain.ListError:
        abort(404)
    if request.method == "POST":
        _require_editor()
        from service.accounts.audit import audit

        try:
            if "archive" in request.form:
                list_domain.set_archived(session, list_id, request.form["archive"] == "1")
            else:
                old_slug = row.slug
                list_domain.update_list(
                    session,
                    list_id,
                    request.form.get("name", ""),
                    request.form.get("description", ""),
                    bool(request.form.get("double_opt_in")),
                    slug=request.form.get("slug"),
                    **_audience_choice(),
                )
                if row.slug != old_slug:
                    audit(
                        session,
                        current_user_id(),
                        "list.slug",
                        "list",
                        list_id,
                        _ip(),
                        old=old_slug,
                        new=row.slug,
                    )
        except list_domain.ListError as exc:
            session.rollback()
            flash_error(exc)
            return redirect(url_for("audience.list_edit", list_id=list_id))
        audit(
            session,
            current_user_id(),
            "list.edit",
            "list",
            list_id,
            _ip(),
            public=row.public,
            double_opt_in=row.double_opt_in,
        )
        session.commit()
        flash(_("Saved."), "info")
        return redirect(url_for("audience.list_edit", list_id=list_id))
    counts = list_domain.member_counts(session, list_id).get(list_id, {})
    return _page("list.html", lst=row, counts=counts)


def _audience_choice() -> dict[str, Any]:
    """The list form's public/private choice and the override fields, for the domain."""
    from service.web.roles import has_role

    return {
        "public": bool(request.form.get("public")),
        "reason": request.form.get("opt_in_reason", ""),
        "may_override": has_role("admin"),
        "user_id": current_user_id(),
        "ip": _ip(),
    }


def _require_editor() -> None:
    from service.web.roles import has_role

    if not has_role("editor"):
        abort(403)


# --- subscribers ----------------------------------------------------------------------


@bp.route("/subscribers")
@require_role("editor")
def subscribers() -> Any:
    """The subscribers table: search, filters, sorting, keyset pages, bulk actions."""
    session = db_session()
    flt = query.SubscriberFilter.from_args(request.args)
    result = query.page(
        session, flt, after=request.args.get("after"), before=request.args.get("before")
    )
    total = query.count(session, flt)
    return _page(
        "subscribers.html",
        flt=flt,
        args=flt.as_args(),
        page=result,
        total=total,
        lists=list_domain.all_lists(session),
        statuses=list(SubscriberStatus),
        member_statuses=list(MembershipStatus),
        sorts=list(query.SORTS),
        actions=list(bulk.BulkAction),
    )


@bp.route("/subscribers/bulk", methods=["POST"])
@require_role("editor")
def subscribers_bulk() -> Any:
    """A bulk action on the ticked rows, or (``scope=filter``) on the whole filter result,
    which runs in the worker, chunk by chunk."""
    form = request.form
    action = form.get("action", "")
    if action == bulk.BulkAction.DELETE and not _is_admin():
        abort(403)
    list_id = form.get("list_id", type=int)
    filter_args = json.loads(form.get("filter") or "{}")
    back = url_for("audience.subscribers", **filter_args)
    session = db_session()
    if form.get("scope") == "filter":
        flt = query.SubscriberFilter.from_args(filter_args)
        if flt.is_empty and form.get("confirm_all") != "1":
            flash(_("Tick 'I mean every subscriber' to act on the whole table."), "error")
            return redirect(back)
        try:
            bulk.check(action, list_id)
        except bulk.BulkError as exc:
            flash_error(exc)
            return redirect(back)
        from worker.tasks_audience import bulk_subscribers

        bulk_subscribers.delay(action, filter_args, list_id, current_user_id(), _ip())
        flash(_("The action runs in the background; reload in a moment to see it."), "info")
        return redirect(back)
    ids = [int(v) for v in form.getlist("ids") if v.isdigit()]
    if not ids:
        flash(_("Tick some rows first, or choose 'every result of this filter'."), "error")
        return redirect(back)
    try:
        changed = bulk.apply_bulk(
            session, action, ids=ids, list_id=list_id, user_id=current_user_id(), ip=_ip()
        )
    except bulk.BulkError as exc:
        flash_error(exc)
        return redirect(back)
    session.commit()
    flash(_("%(n)s subscribers changed.", n=f"{changed:,}"), "info")
    return redirect(back)


def _is_admin() -> bool:
    from service.web.roles import has_role

    return has_role("admin")


@bp.route("/subscribers/export.<fmt>")
@require_role("editor")
def subscribers_export(fmt: str) -> Any:
    """The current filter result (or a list) as CSV with BOM or as XLSX, streamed."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    session = db_session()
    flt = query.SubscriberFilter.from_args(request.args)
    from service.accounts.audit import audit

    audit(
        session,
        current_user_id(),
        "subscribers.export",
        "subscribers",
        None,
        _ip(),
        format=fmt,
        filter=flt.as_args(),
    )
    session.commit()
    return subscribers_download(session, flt, fmt)


@bp.route("/subscribers/<int:subscriber_id>", methods=["GET", "POST"])
@require_role("editor")
def subscriber(subscriber_id: int) -> Any:
    """One person: profile, attributes, memberships, consent history, deliveries, events."""
    session = db_session()
    sub = personal.get_subscriber(session, subscriber_id)
    if sub is None:
        abort(404)
    if request.method == "POST":
        _require_editor()
        pairs = list(
            zip(request.form.getlist("attr_key"), request.form.getlist("attr_value"), strict=False)
        )
        try:
            personal.update_profile(
                session,
                sub,
                name=request.form.get("name", ""),
                organisation=request.form.get("organisation", ""),
                language=request.form.get("language", ""),
                attributes=pairs,
                user_id=current_user_id(),
                ip=_ip(),
            )
        except personal.ProfileError as exc:
            flash_error(exc)
            return redirect(url_for("audience.subscriber", subscriber_id=subscriber_id))
        session.commit()
        flash(_("Saved."), "info")
        return redirect(url_for("audience.subscriber", subscriber_id=subscriber_id))
    return _page(
        "subscriber.html",
        sub=sub,
        memberships=personal.memberships(session, sub.id),
        consents=personal.consents(session, sub.id),
        deliveries=personal.deliveries(session, sub.id),
        events=personal.events(session, sub.id),
        erased=sub.status == SubscriberStatus.ERASED,
    )


@bp.route("/subscribers/<int:subscriber_id>/data.json")
@require_role("editor")
def subscriber_data(subscriber_id: int) -> Any:
    """Everything stored about the person, as a JSON download (audited)."""
    session = db_session()
    sub = personal.get_subscriber(session, subscriber_id)
    if sub is None:
        abort(404)
    data = personal.personal_data(session, sub)
    from service.accounts.audit import audit

    audit(session, current_user_id(), "subscriber.data_export", "subscriber", sub.id, _ip())
    session.commit()
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subscriber-{sub.id}.json"',
        },
    )


@bp.route("/subscribers/<int:subscriber_id>/erase", methods=["POST"])
@require_role("admin")
def subscriber_erase(subscriber_id: int) -> Any:
    """Erase the person's data (keeps a hash in suppressions); needs the typed address."""
    session = db_session()
    sub = personal.get_subscriber(session, subscriber_id)
    if sub is None:
        abort(404)
    if request.form.get("confirm", "").strip().casefold() != sub.email:
        flash(_("Type the address exactly to confirm the erasure."), "error")
        return redirect(url_for("audience.subscriber", subscriber_id=subscriber_id))
    personal.erase(session, sub, current_user_id(), _ip())
    session.commit()
    flash(_("The subscriber's personal data was erased."), "info")
    return redirect(url_for("audience.subscriber", subscriber_id=subscriber_id))


# --- import ---------------------------------------------------------------------------


@bp.route("/subscribers/import", methods=["GET", "POST"])
@require_role("editor")
def import_upload() -> Any:
    """Step 1: upload a file and choose the list and mode."""
    session = db_session()
    open_lists = list_domain.all_lists(session, include_archived=False)
    if request.method == "GET":
        # "Import subscribers" on a list's page comes with that list chosen.
        return _upload_page(open_lists, request.args.get("list_id", type=int), "add")
    upload = request.files.get("file")
    list_id = request.form.get("list_id", type=int)
    mode = request.form.get("mode", "add")
    problem = _upload_problem(upload, list_id, mode)
    if problem:
        flash(problem, "error")
        return _upload_page(open_lists, list_id, mode), 400
    assert upload is not None
    name = secure_filename(upload.filename or "") or "upload"
    original = (upload.filename or name)[-300:]
    assert list_id is not None  # _upload_problem refused a missing list
    try:
        job, info = import_jobs.store_upload(
            session,
            settings().data_dir,
            upload.save,
            list_id=list_id,
            filename=original,
            mode=mode,
            status="mapping",
            created_by=current_user_id(),
        )
    except FileFormatError as exc:
        session.rollback()
        flash(
            _("%(file)s cannot be imported: %(reason)s", file=original, reason=describe(exc)),
            "error",
        )
        return _upload_page(open_lists, list_id, mode), 400
    job.mapping = {"info": _info_dict(info), "columns": import_columns.guess_mapping(info.headers)}
    session.commit()
    return redirect(url_for("audience.import_mapping", job_id=job.id))


def _upload_page(open_lists: list[Any], list_id: int | None, mode: str) -> Any:
    """The upload form with the list and mode chosen so far (kept when a file is refused)."""
    return _page(
        "import_upload.html",
        lists=open_lists,
        jobs=_recent_jobs(),
        chosen_list=list_id,
        chosen_mode=mode,
    )


def _upload_problem(upload: Any, list_id: int | None, mode: str) -> str | None:
    if upload is None or not upload.filename:
        return _("Choose a file to import.")
    if not upload.filename.lower().endswith(IMPORT_SUFFIXES):
        return _("Only CSV and XLSX files can be imported.")
    if not list_id:
        return _("Choose the list to import into.")
    if mode not in import_terms.MODES:
        return _("Choose how to treat people already known.")
    size = request.content_length or 0
    if size > MAX_IMPORT_BYTES:
        return _(
            "The file is %(size)s MB; imports are limited to %(limit)s MB. Split it into parts.",
            size=f"{size / 1e6:.1f}",
            limit=MAX_IMPORT_BYTES // (1024 * 1024),
        )
    return None


def _info_dict(info: TableInfo) -> dict[str, Any]:
    return {
        "kind": info.kind,
        "encoding": info.encoding,
        "delimiter": info.delimiter,
        "headers": info.headers,
        "preview": info.preview,
        "has_header": info.has_header,
    }


def _recent_jobs() -> list[ImportJob]:
    from sqlalchemy import select

    return list(db_session().scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(10)))


def _job(job_id: int) -> ImportJob:
    job = db_session().get(ImportJob, job_id)
    if job is None:
        abort(404)
    return job


@bp.route("/imports/<int:job_id>/mapping", methods=["GET", "POST"])
@require_role("editor")
def import_mapping(job_id: int) -> Any:
    """Step 2: say which column is which (guessed from the headers), then start."""
    session = db_session()
    job = _job(job_id)
    if job.status != "mapping":
        return redirect(url_for("audience.import_job", job_id=job_id))
    info = (job.mapping or {}).get("info", {})
    headers: list[str] = info.get("headers", [])
    if request.method == "POST":
        chosen = {}
        for index, header in enumerate(headers):
            target = request.form.get(f"col{index}", "attribute")
            chosen[header] = target if target in MAPPING_CHOICES else "attribute"
        try:
            columns = import_columns.complete_mapping(headers, chosen)
        except import_terms.ImportSetupError as exc:
            flash_error(exc)
            return redirect(url_for("audience.import_mapping", job_id=job_id))
        job.mapping = {**job.mapping, "columns": columns}
        job.status = "queued"
        from service.accounts.audit import audit

        audit(
            session,
            current_user_id(),
            "subscribers.import",
            "list",
            job.list_id,
            _ip(),
            job=job.id,
            file=job.filename,
            mode=job.mode,
        )
        session.commit()
        from worker.tasks_audience import import_subscribers

        import_subscribers.delay(job.id)
        return redirect(url_for("audience.import_job", job_id=job_id))
    target_list = session.get(list_domain.MailingList, job.list_id) if job.list_id else None
    return _page(
        "import_mapping.html",
        job=job,
        info=info,
        headers=headers,
        columns=import_jobs.job_mapping(job),
        choices=MAPPING_CHOICES,
        target_list=target_list,
    )


@bp.route("/imports/<int:job_id>")
@require_role("editor")
def import_job(job_id: int) -> Any:
    """Step 3: the progress bar (htmx polls the fragment) and, at the end, the report."""
    job = _job(job_id)
    return _page("import_job.html", job=job, extra=_job_extra(job), poll=PROGRESS_POLL)


@bp.route("/imports/<int:job_id>/progress")
@require_role("editor")
def import_progress(job_id: int) -> Any:
    """The progress fragment (replaces itself until the job ends)."""
    job = _job(job_id)
    return _page("_import_progress.html", job=job, extra=_job_extra(job), poll=PROGRESS_POLL)


def _job_extra(job: ImportJob) -> dict[str, Any]:
    return dict((job.mapping or {}).get("report", {}))


@bp.app_template_filter("import_reason")
def import_reason(entry: dict[str, Any]) -> str:
    """Why an import row (or the whole job) failed, in the staff member's language."""
    return describe(import_terms.row_message(entry))


@bp.route("/imports/<int:job_id>/errors.csv")
@require_role("editor")
def import_errors(job_id: int) -> Any:
    """Every bad row of the import with its line number and reason (CSV with BOM)."""
    job = _job(job_id)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["line", "reason"])
    for error in job.errors or []:
        writer.writerow([error.get("line") or "", import_reason(error)])
    return Response(
        buffer.getvalue().encode("utf-8"),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'},
    )


# --- suppression list -----------------------------------------------------------------


@bp.route("/suppressions", methods=["GET", "POST"])
@require_role("editor")
def suppressions() -> Any:
    """Every address that must never be mailed; search, pages, add by hand."""
    session = db_session()
    if request.method == "POST":
        _require_editor()
        try:
            suppression_list.add_manual(
                session,
                request.form.get("email", ""),
                request.form.get("note", ""),
                current_user_id(),
                _ip(),
            )
        except InvalidAddress as exc:
            flash(_("This email address is not valid: %(reason)s", reason=describe(exc)), "error")
            return redirect(url_for("audience.suppressions"))
        session.commit()
        flash(_("The address is suppressed."), "info")
        return redirect(url_for("audience.suppressions"))
    q = request.args.get("q", "").strip()[:200]
    result = suppression_list.search(session, q, request.args.get("before", type=int))
    return _page("suppressions.html", result=result, q=q, reasons=list(SuppressionReason))


@bp.route("/suppressions/<int:suppression_id>/remove", methods=["POST"])
@require_role("admin")
def suppression_remove(suppression_id: int) -> Any:
    """Take an address off the list; a reason is required and audited."""
    session = db_session()
    try:
        suppression_list.remove(
            session, suppression_id, request.form.get("reason", ""), current_user_id(), _ip()
        )
    except suppression_list.SuppressionError as exc:
        flash_error(exc)
        return redirect(url_for("audience.suppressions"))
    session.commit()
    flash(_("Removed from the suppression list; the reason is in the audit log."), "info")
    return redirect(url_for("audience.suppressions"))
