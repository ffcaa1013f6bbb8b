"""The operation registry: one decorator makes a route AND its OpenAPI entry.

``@operation("GET", "/lists/<list_id>", ...)`` registers the Flask view, authenticates
the bearer token, checks scope and role, validates the path ids, the query string and the
body with the pydantic models given, and serialises the answer through the response model.
The OpenAPI document is generated from ``OPERATIONS``, so a route cannot exist without its
spec entry and the spec cannot describe parameters the code does not read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError

from service.web.api.errors import ApiError

# Path ids are 32-bit database keys (PostgreSQL ``integer``): bigger ones cannot exist.
MAX_PATH_ID = 2**31 - 1
JSON_MIMETYPE = "application/json"
MULTIPART_MIMETYPE = "multipart/form-data"
_PATH_PARAM = re.compile(r"<([a-z_]+)>")

OPERATIONS: list[Operation] = []


@dataclass
class Operation:
    """One API operation as both the code and the OpenAPI document see it."""

    method: str
    rule: str
    endpoint: str
    summary: str
    description: str
    tag: str
    role: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    multipart: type[BaseModel] | None = None
    files: tuple[str, ...] = ()
    response: type[BaseModel] | None = None
    status: int = 200
    produces: str = JSON_MIMETYPE
    public: bool = False
    extra_statuses: dict[int, type[BaseModel]] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        """``read`` for safe methods, ``write`` for everything else."""
        return "read" if self.method == "GET" else "write"

    @property
    def path_params(self) -> list[str]:
        """Names of the ids in the path (all positive integers)."""
        return _PATH_PARAM.findall(self.rule)

    @property
    def openapi_path(self) -> str:
        """The rule in OpenAPI's ``{name}`` syntax, with the blueprint prefix."""
        return "/api/v1" + _PATH_PARAM.sub(r"{\1}", self.rule)


def _check_text(value: Any, where: str) -> None:
    """Refuse NUL characters and lone surrogates anywhere in the input: no database
    stores them (PostgreSQL rejects NUL in text), so they are a 400 here, not a 500 there."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ApiError(400, "bad_characters", f"{where} contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApiError(400, "bad_characters", f"{where} is not valid Unicode") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, where)
    elif isinstance(value, list):
        for item in value:
            _check_text(item, where)


def _validated(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    _check_text(data, where)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ApiError(422, "validation_error", f"the {where} is not valid", details) from exc


def _path_ids(values: dict[str, str]) -> dict[str, int]:
    ids = {}
    for name, text in values.items():
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PATH_ID:
            raise ApiError(404, "not_found", f"{name} must be a positive integer id")
        ids[name] = int(text)
    return ids


def _json_body(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != JSON_MIMETYPE:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        data = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", "the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "the body must be a JSON object")
    return _validated(model, data, "body")


def _form(model: type[BaseModel], files: tuple[str, ...]) -> tuple[BaseModel, dict[str, Any]]:
    if request.mimetype != MULTIPART_MIMETYPE:
        raise ApiError(415, "unsupported_media_type", "upload the file as multipart/form-data")
    fields = {key: request.form.get(key) for key in request.form}
    uploads = {}
    for name in files:
        upload = request.files.get(name)
        if upload is None or not upload.filename:
            raise ApiError(422, "validation_error", f"attach the file as the {name!r} field")
        uploads[name] = upload
    return _validated(model, fields, "form"), uploads


def _respond(op: Operation, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if op.response is None:
        return Response(status=op.status)
    model = result if isinstance(result, BaseModel) else op.response.model_validate(result)
    body = json.dumps(model.model_dump(mode="json"), ensure_ascii=False)
    return Response(body, status=op.status, mimetype=JSON_MIMETYPE)


def operation(
    bp: Blueprint,
    method: str,
    rule: str,
    *,
    summary: str,
    tag: str,
    role: str = "viewer",
    **options: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an API operation (route + spec). The view receives the path ids as ints
    and, when declared, ``query=``, ``body=`` or ``form=`` (validated models) and
    ``files=`` (uploads); it returns a dict/model for ``response`` or a ``Response``."""

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        op = Operation(
            method=method,
            rule=rule,
            endpoint=fn.__name__,
            summary=summary,
            description=(fn.__doc__ or "").strip(),
            tag=tag,
            role=role,
            **options,
        )
        OPERATIONS.append(op)

        def view(**path_values: str) -> Response:
            from service.web.api.auth import authenticate

            if not op.public:
                authenticate(op.scope, op.role)
            kwargs: dict[str, Any] = dict(_path_ids(path_values))
            if op.query is not None:
                kwargs["query"] = _validated(op.query, request.args.to_dict(), "query string")
            if op.body is not None:
                kwargs["body"] = _json_body(op.body)
            if op.multipart is not None:
                kwargs["form"], kwargs["files"] = _form(op.multipart, op.files)
            return _respond(op, fn(**kwargs))

        view.__name__ = fn.__name__
        view.__doc__ = fn.__doc__
        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        return fn

    return decorator
