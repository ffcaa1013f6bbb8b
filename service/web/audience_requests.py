"""What the audience pages share (``service.web.audience``): their templates, the client's
address for the audit trail, and the editor check a page's POST makes again."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request

TEMPLATE_DIR = "audience/"


def client_ip() -> str | None:
    """The client's address, for the audit trail."""
    return request.remote_addr


def audience_page(name: str, **context: Any) -> Any:
    """A page of ``templates/web/audience``."""
    return render_template(TEMPLATE_DIR + name, **context)


def require_editor() -> None:
    """A 403 unless the signed-in user has the editor role (checked again on a POST)."""
    from service.web.roles import has_role

    if not has_role("editor"):
        abort(403)
