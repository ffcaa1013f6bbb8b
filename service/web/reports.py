"""Admin pages for delivery reports: overview across issues, one campaign, exports.

Views are thin: every figure comes from ``service.reports`` (``queries`` one campaign,
``overview`` across campaigns and lists, ``exports`` the rows per recipient).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from typing import Any

from flask import Response, abort, render_template, stream_with_context
from flask_babel import gettext as _

from service.campaigns.attention import needs_attention
from service.events.policy import recent_alerts
from service.model import Campaign
from service.reports import exports, overview, queries
from service.reports.coverage import across, coverage
from service.reports.domains import by_provider, domain_table, export_rows
from service.spreadsheets import csv_pieces, write_xlsx_sheets
from service.web.context import db_session
from service.web.roles import require_role, staff_blueprint

bp = staff_blueprint("reports", __name__)
PAGE_SIZE = 50
LOST_SHOWN = 10  # organisations named per campaign on the overview ("and N more")
CSV_FLUSH_ROWS = 500


@bp.route("/reports")
@require_role("viewer")
def index() -> Any:
    """Delivery reports across campaigns: one row per campaign, rates over issues, growth."""
    session = db_session()
    rows = overview.overview(session)
    organisations = across(session, [r["campaign_id"] for r in rows])
    chart = {
        "labels": [r["subject"] for r in reversed(rows)],
        "open_rate": [r["rates"]["open_rate"] for r in reversed(rows)],
        "click_rate": [r["rates"]["click_rate"] for r in reversed(rows)],
        "bounce_rate": [r["rates"]["bounce_rate"] for r in reversed(rows)],
        "unsubscribe_rate": [r["rates"]["unsubscribe_rate"] for r in reversed(rows)],
    }
    return render_template(
        "reports/index.html",
        rows=rows,
        chart=chart,
        growth=overview.list_growth(session),
        organisations=organisations,
        lost_shown=LOST_SHOWN,
    )


def _campaign_or_404(campaign_id: int) -> Campaign:
    campaign = db_session().get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


@bp.route("/reports/<int:campaign_id>")
@require_role("viewer")
def campaign(campaign_id: int) -> Any:
    """One campaign: figures, opens/clicks over time, links, bounces and failures, the
    organisations reached and the contacts to fix, delivery by mailbox provider."""
    session = db_session()
    item = _campaign_or_404(campaign_id)
    organisations = coverage(session, campaign_id)
    domains = domain_table(session, campaign_id)
    report = queries.campaign_report(session, campaign_id, organisations, domains)
    return render_template(
        "reports/campaign.html",
        campaign=item,
        report=report,
        providers=by_provider(domains),
        attention=needs_attention(item.status, int(report["unknown"])) if report else None,
        article_titles=queries.article_titles(session, campaign_id),
        series=queries.time_series(session, campaign_id),
        bounces=queries.bounce_list(session, campaign_id),
        failures=queries.failure_list(session, campaign_id),
        to_fix=organisations.contacts_to_fix()[: queries.MAX_LIST_ROWS],
        limit=queries.MAX_LIST_ROWS,
    )


@bp.route("/reports/<int:campaign_id>/export.csv")
@require_role("viewer")
def export_csv(campaign_id: int) -> Any:
    """Per-recipient outcomes as CSV, streamed (UTF-8 with BOM so Excel reads Chinese)."""
    _campaign_or_404(campaign_id)
    session = db_session()

    table = itertools.chain(
        [exports.EXPORT_COLUMNS], exports.recipient_outcomes(session, campaign_id)
    )

    return Response(
        stream_with_context(csv_pieces(table)),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=campaign-{campaign_id}.csv"},
    )


@bp.route("/reports/<int:campaign_id>/export.xlsx")
@require_role("viewer")
def export_xlsx(campaign_id: int) -> Any:
    """Per-recipient outcomes as XLSX (write-only workbook on disk, then streamed), the
    organisations reached and the contacts to fix on a sheet of their own, and one row
    per recipient domain on a third."""
    _campaign_or_404(campaign_id)
    session = db_session()
    table = itertools.chain(
        [exports.EXPORT_COLUMNS], exports.recipient_outcomes(session, campaign_id)
    )
    organisations = coverage(session, campaign_id).export_rows()
    domains = export_rows(domain_table(session, campaign_id))
    spool = tempfile.TemporaryFile()  # noqa: SIM115 — closed by the streaming generator
    sheets = [("outcomes", table), ("organisations", organisations), ("domains", domains)]
    write_xlsx_sheets(sheets, spool)
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while block := spool.read(64 * 1024):
                yield block

    return Response(
        chunks(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename=campaign-{campaign_id}.xlsx"},
    )


@bp.route("/reports/alerts")
@require_role("viewer")
def alerts() -> Any:
    """Sender-side alerts (5.7.x refusals) for the dashboard partial (loaded by htmx)."""
    return render_template(
        "events/alerts_list.html", alerts=recent_alerts(db_session()), title=_("Sender alerts")
    )
