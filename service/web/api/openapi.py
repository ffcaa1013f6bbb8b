"""The OpenAPI 3.1 document, generated from the operation registry and its pydantic models."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.web.api.errors import ErrorResponse
from service.web.api.registry import JSON_MIMETYPE, MAX_PATH_ID, MULTIPART_MIMETYPE, Operation

API_TITLE = "Tidings API"
API_VERSION = "1.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"
# Every operation may answer with these (JSON errors with a stable code).
ERROR_STATUSES = {
    400: "Bad input (malformed JSON, bad cursor, bad characters)",
    401: "Missing, unknown, revoked or expired bearer token",
    403: "The token lacks the scope (read-only tokens may only GET), or its user the role",
    404: "Unknown id",
    409: "Conflicts with the current state",
    413: "Too large",
    415: "Wrong content type",
    422: "Validation failed (details list the fields)",
    503: "The task queue is unreachable",
}
SECURITY_SCHEME = "bearerAuth"


def _models(ops: list[Operation]) -> list[tuple[type[BaseModel], Any]]:
    wanted: list[tuple[type[BaseModel], Any]] = [(ErrorResponse, "serialization")]
    for op in ops:
        for model in (op.query, op.body, op.multipart):
            if model is not None:
                wanted.append((model, "validation"))
        if op.response is not None:
            wanted.append((op.response, "serialization"))
    return list(dict.fromkeys(wanted))


def _drop_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is a string or absent, never JSON null."""
    schema = copy.deepcopy(schema)
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            schema.pop("anyOf")
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    return schema


def _query_parameters(defn: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(defn.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": prop.get("description", ""),
            "schema": _drop_null(prop),
        }
        for name, prop in defn.get("properties", {}).items()
    ]


def _multipart_schema(defn: dict[str, Any], files: tuple[str, ...]) -> dict[str, Any]:
    schema = copy.deepcopy(defn)
    schema.pop("title", None)
    props = schema.setdefault("properties", {})
    for name in files:
        props[name] = {"type": "string", "format": "binary"}
    schema["required"] = [*schema.get("required", []), *files]
    schema["type"] = "object"
    return schema


def _responses(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for mimetype in op.produces.split(","):
        if mimetype == JSON_MIMETYPE and op.response is not None:
            content[mimetype] = {"schema": refs[(op.response, "serialization")]}
        elif mimetype != JSON_MIMETYPE:
            content[mimetype] = {"schema": {"type": "string"}}
    ok: dict[str, Any] = {"description": op.summary}
    if content:
        ok["content"] = content
    error_ref = refs[(ErrorResponse, "serialization")]
    out = {str(op.status): ok}
    for status, text in ERROR_STATUSES.items():
        out[str(status)] = {"description": text, "content": {JSON_MIMETYPE: {"schema": error_ref}}}
    return out


def _operation(op: Operation, refs: dict[Any, Any], defs: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PATH_ID},
        }
        for name in op.path_params
    ]
    if op.query is not None:
        params += _query_parameters(_definition(refs[(op.query, "validation")], defs))
    entry: dict[str, Any] = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "description": op.description,
        "tags": [op.tag],
        "parameters": params,
        "responses": _responses(op, refs),
        "x-scope": op.scope,
        "x-minimum-role": op.role,
        "security": [] if op.public else [{SECURITY_SCHEME: []}],
    }
    if op.body is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {JSON_MIMETYPE: {"schema": refs[(op.body, "validation")]}},
        }
    if op.multipart is not None:
        form = _definition(refs[(op.multipart, "validation")], defs)
        entry["requestBody"] = {
            "required": True,
            "content": {MULTIPART_MIMETYPE: {"schema": _multipart_schema(form, op.files)}},
        }
    return entry


def _definition(ref: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[1]
    found: dict[str, Any] = defs[name]
    return found


def build_spec(ops: list[Operation], server_url: str = "/") -> dict[str, Any]:
    """The whole OpenAPI document for ``ops``."""
    refs, schema = models_json_schema(_models(ops), ref_template=REF_TEMPLATE)
    defs: dict[str, Any] = schema.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation(op, refs, defs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": API_TITLE,
            "version": API_VERSION,
            "description": "Authenticate with `Authorization: Bearer <token>` "
            "(`tidings token add EMAIL`). GET needs the `read` scope, everything else "
            "`write`; the token's user role applies too. Lists are cursor-paged: pass "
            "`next_cursor` back as `cursor`. Errors are "
            '`{"error": {"code", "message", "details"}}`.',
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {SECURITY_SCHEME: {"type": "http", "scheme": "bearer"}},
        },
    }
