"""JSON errors of the API: ``{"error": {"code", "message", "details"}}``, never an HTML page."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Stable machine codes for the HTTP errors Werkzeug raises on its own.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


class ErrorBody(BaseModel):
    """What went wrong: a stable ``code`` for programs, a ``message`` for people."""

    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error: ErrorBody


class ApiError(Exception):
    """Raise in a view to answer with a JSON error (the status and a stable code)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(what: str, ident: object) -> ApiError:
    """The 404 for an unknown id."""
    return ApiError(404, "not_found", f"there is no {what} {ident}")


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    """The JSON error response itself."""
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details))
    response = jsonify(body.model_dump(mode="json"))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_api_error(exc: ApiError) -> Response:
    """``ApiError`` → its JSON answer (401s also say how to authenticate)."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


def handle_http_error(exc: HTTPException) -> Response:
    """A Werkzeug error (bad form data, too large, ...) raised inside an API view."""
    status = exc.code or 400
    return error_response(status, HTTP_CODES.get(status, "http_error"), exc.description or exc.name)


def handle_unexpected(exc: Exception) -> Response:
    """The last resort: a bug. Logged with its traceback; the client gets JSON, not HTML."""
    if isinstance(exc, HTTPException):
        return handle_http_error(exc)
    log.exception("unexpected error in the API")
    return error_response(500, "internal_error", "something went wrong on our side")
