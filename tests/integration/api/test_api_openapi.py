"""The spec matches the code: every API route has its operation, the served document is
the registry's, and the docs page lists every operation without any CDN."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from service.web.api.meta import CATCH_ALL, spec
from service.web.api.registry import OPERATIONS
from tests.contract import REPORT_KEYS as DESIGN_REPORT_KEYS

META_ENDPOINTS = {"api.openapi_json", "api.docs", f"api.{CATCH_ALL}"}


def test_every_api_route_has_exactly_one_spec_operation(app: Flask) -> None:
    document = spec()
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in META_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routed |= {(path, m) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    assert routed == documented
    assert len(OPERATIONS) == len(documented)


def test_the_served_document_is_the_generated_one(client: FlaskClient) -> None:
    served = client.get("/api/v1/openapi.json").get_json()
    assert served == spec()
    assert served["openapi"].startswith("3.1")
    assert served["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_report_schema_names_the_design_keys() -> None:
    schemas = spec()["components"]["schemas"]
    assert set(schemas["ReportOut"]["properties"]) >= DESIGN_REPORT_KEYS


def test_every_operation_documents_its_json_errors() -> None:
    for path, ops in spec()["paths"].items():
        for method, op in ops.items():
            for status in ("400", "401", "403", "404", "422"):
                assert status in op["responses"], (method, path, status)


def test_the_docs_page_lists_every_operation_and_loads_nothing_remote(
    client: FlaskClient,
) -> None:
    html = client.get("/api/v1/docs").get_data(as_text=True)
    for op in OPERATIONS:
        assert f'id="{op.endpoint}"' in html
    assert not re.search(r"""(src|href)=["']https?://""", html)
    client.get("/lang/zh")
    chinese = client.get("/api/v1/docs").get_data(as_text=True)
    assert "<h1>Tidings API" in chinese
