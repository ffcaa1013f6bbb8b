"""File downloads shared by the admin pages and the API."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Response, send_file, stream_with_context
from sqlalchemy.orm import Session

from service.model import utcnow
from service.subscribers import export
from service.subscribers.query import SubscriberFilter


def subscribers_download(session: Session, flt: SubscriberFilter, fmt: str) -> Response:
    """The filter result as CSV (UTF-8 with BOM, streamed) or XLSX (``fmt`` "csv"/"xlsx")."""
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        return Response(
            stream_with_context(export.csv_stream(session, flt)),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="subscribers-{stamp}.csv"'},
        )
    # openpyxl needs a seekable file: write it on disk, send it, remove it when sent.
    handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)  # noqa: SIM115
    handle.close()
    path = export.write_xlsx(session, flt, Path(handle.name))
    response = send_file(
        path, as_attachment=True, download_name=f"subscribers-{stamp}.xlsx", max_age=0
    )
    response.call_on_close(lambda: path.unlink(missing_ok=True))
    return response
