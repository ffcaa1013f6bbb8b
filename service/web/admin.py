"""The admin shell: dashboard, the navigation areas, and the Outbox of captured mail."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Response,
    abort,
    render_template,
    request,
)
from sqlalchemy import func, select

from service.mail.capture import CaptureStore
from service.mail.capture_index import NO_CAMPAIGN, OutboxQuery
from service.mail.sending_config import get_sending_config
from service.mail.site_settings import effective_settings, env_overrides, stored_site_settings
from service.model import Campaign, Issue, MailingList, Subscriber
from service.ops.first_run import checklist
from service.ops.metrics import last_errors, queue_state
from service.web.context import confirmation_cap, db_session, settings
from service.web.public import health_checks
from service.web.roles import has_role, require_role, staff_blueprint

bp = staff_blueprint("admin", __name__)

PAGE_SIZE = 50


def outbox_store() -> CaptureStore:
    """The folder the SMTP capture writes to."""
    return CaptureStore(settings().data_dir / "outbox")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def arrived_elsewhere(request_url: str, base_url: str) -> str | None:
    """The origin this request came in on when it is not the base URL's (scheme, host and
    port), else None: links in mail point at the base URL, so a reader may not reach them
    from where staff reach the admin."""
    if _origin(request_url) == _origin(base_url):
        return None
    parts = urlsplit(request_url)
    return f"{parts.scheme}://{parts.netloc}"


@bp.route("/")
@require_role("viewer")
def dashboard() -> Any:
    """State of the parts (database, Redis, worker, beat, SMTP), a few counts, this
    hour's confirmation mails (let through and held back by the cap), and for an admin
    the first-run checklist while a step is open."""
    session = db_session()
    counts = {
        "issues": session.scalar(select(func.count(Issue.id))),
        "lists": session.scalar(select(func.count(MailingList.id))),
        "subscribers": session.scalar(select(func.count(Subscriber.id))),
        "campaigns": session.scalar(select(func.count(Campaign.id))),
        "outbox": outbox_store().count(),
    }
    checks = health_checks()
    site = stored_site_settings(session)
    cfg = effective_settings(session, settings(), site)  # the admin's over the environment
    steps = checklist(cfg, site, get_sending_config(session)) if has_role("admin") else []
    return render_template(
        "dashboard.html",
        checks=checks,
        elsewhere=arrived_elsewhere(request.host_url, cfg.base_url),
        # Only a base URL no variable pins can be changed in the admin.
        base_url_pinned="base_url" in env_overrides(settings()),
        counts=counts,
        cfg=cfg,
        steps=steps if not all(step.done for step in steps) else [],
        queues=queue_state(settings().redis_url),
        confirmations=confirmation_cap().counts(),
        errors=last_errors(session),
    )


@bp.route("/outbox")
@require_role("editor")
def outbox() -> Any:
    """Mail caught by the local SMTP capture, newest first, a keyset page at a time,
    searched by address or subject and filtered by campaign."""
    store = outbox_store()
    query = _outbox_query(request.args)
    args = {k: v for k, v in (("q", query.text), ("campaign", query.campaign_id)) if v}
    total, capped = store.count_matching(query)
    return render_template(
        "outbox.html",
        page=store.search(query),
        query=query,
        args=args,
        total=total,
        capped=capped,
        campaigns=_outbox_campaigns(store),
    )


# A search longer than any address or subject can only be a mistake or an attack.
_MAX_SEARCH = 200
# Ids and cursors are SQLite integers; a larger number matches nothing anyway.
_MAX_INTEGER = 2**63 - 1


def _outbox_query(raw: Any) -> OutboxQuery:
    """The Outbox filter from the query string; a malformed value is ignored."""

    def natural(name: str) -> int | None:
        value = raw.get(name, type=int)
        return value if value is not None and 0 <= value <= _MAX_INTEGER else None

    return OutboxQuery(
        text=raw.get("q", "").strip()[:_MAX_SEARCH],
        campaign_id=natural("campaign"),
        before=natural("before"),
        after=natural("after"),
        limit=PAGE_SIZE,
    )


def _outbox_campaigns(store: CaptureStore) -> list[tuple[int, str, int]]:
    """(id, name, messages) of each campaign with captured mail, newest campaign first."""
    counts = store.campaign_counts()
    counts.pop(NO_CAMPAIGN, None)
    rows = db_session().execute(
        select(Campaign.id, Campaign.name, Campaign.subject).where(Campaign.id.in_(counts))
    )
    names = {cid: name or subject for cid, name, subject in rows}
    return [(cid, names.get(cid) or f"#{cid}", counts[cid]) for cid in sorted(counts, reverse=True)]


def _captured(msg_id: str) -> Any:
    try:
        return outbox_store().message(msg_id)
    except KeyError:
        abort(404)


@bp.route("/outbox/<msg_id>")
@require_role("editor")
def outbox_message(msg_id: str) -> Any:
    """One captured message: headers, text part, and the HTML in a sandboxed frame."""
    msg = _captured(msg_id)
    summary = outbox_store().summary(msg_id)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    return render_template(
        "outbox_message.html",
        msg_id=msg_id,
        summary=summary,
        headers=list(msg.items()),
        raw_headers=_raw_headers(outbox_store().raw(msg_id)),
        text=text_part.get_content() if text_part is not None else "",
        has_html=html_part is not None,
    )


def _raw_headers(raw: bytes) -> str:
    head, _sep, _body = raw.partition(b"\r\n\r\n")
    if not _sep:
        head = raw.partition(b"\n\n")[0]
    return head.decode("utf-8", "replace")


@bp.route("/outbox/<msg_id>/html")
@require_role("editor")
def outbox_html(msg_id: str) -> Any:
    """The HTML part alone, served with a CSP that blocks scripts (it is shown in a
    sandboxed iframe; captured mail is untrusted content)."""
    html_part = _captured(msg_id).get_body(preferencelist=("html",))
    if html_part is None:
        abort(404)
    resp = Response(html_part.get_content(), mimetype="text/html")
    resp.headers["Content-Security-Policy"] = "script-src 'none'; frame-ancestors 'self'"
    return resp


@bp.route("/outbox/<msg_id>.eml")
@require_role("editor")
def outbox_raw(msg_id: str) -> Any:
    """The exact bytes received, as a download."""
    try:
        raw = outbox_store().raw(msg_id)
    except KeyError:
        abort(404)
    return Response(
        raw,
        mimetype="message/rfc822",
        headers={"Content-Disposition": f"attachment; filename={msg_id}.eml"},
    )


@bp.route("/settings")
@require_role("admin")
def settings_page() -> Any:
    """The running configuration (secrets are never shown)."""
    return render_template("settings.html", cfg=settings())
