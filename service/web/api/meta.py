"""The spec itself (``/openapi.json``), its browsable page (``/docs``) and the JSON
404/405 for anything else under ``/api/v1/``."""

from __future__ import annotations

import functools
import json
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from service.web.api.errors import ApiError
from service.web.api.openapi import build_spec
from service.web.api.registry import JSON_MIMETYPE, OPERATIONS

CATCH_ALL = "unknown_path"


@functools.cache
def _spec_json() -> str:
    # Built once per process (about 30 ms): the operations are fixed at import.
    return json.dumps(build_spec(OPERATIONS), ensure_ascii=False)


def spec() -> dict[str, Any]:
    """The OpenAPI document of every registered operation (a fresh copy)."""
    document: dict[str, Any] = json.loads(_spec_json())
    return document


def register(bp: Blueprint) -> None:
    """Add the spec, the docs page and the catch-all to ``bp``."""

    @bp.route("/openapi.json")
    def openapi_json() -> Response:
        """The OpenAPI 3.1 document (public: it holds no data)."""
        return Response(_spec_json(), mimetype=JSON_MIMETYPE)

    @bp.route("/docs")
    def docs() -> Any:
        """A browsable page of the spec, rendered here (no CDN: the admin works offline)."""
        document = spec()
        operations = [
            (path, method.upper(), op)
            for path, methods in document["paths"].items()
            for method, op in methods.items()
        ]
        schemas = {
            name: json.dumps(schema, ensure_ascii=False, indent=2)
            for name, schema in document["components"]["schemas"].items()
        }
        return render_template(
            "api/docs.html", spec=document, operations=operations, schemas=schemas
        )

    @bp.route(
        "/<path:anything>",
        endpoint=CATCH_ALL,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    )
    def unknown(anything: str) -> Response:
        """404 for an unknown path, 405 for a known path with another method (as JSON)."""
        adapter = current_app.url_map.bind_to_environ(request.environ)
        for method in ("GET", "POST", "PATCH", "DELETE", "PUT"):
            if method == request.method:
                continue
            try:
                endpoint, _ = adapter.match(request.path, method=method)
            except (NotFound, MethodNotAllowed):
                continue
            if endpoint != f"{bp.name}.{CATCH_ALL}":
                raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
        raise ApiError(404, "not_found", f"there is no API path /{anything}")
