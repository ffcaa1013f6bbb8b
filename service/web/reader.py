"""Public reader pages: subscribe, confirm, unsubscribe (RFC 8058), preferences."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reader", __name__)
