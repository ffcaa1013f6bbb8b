"""Open pixel and click redirect."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("tracking", __name__)
