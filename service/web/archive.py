"""The public web archive of published issues and its Atom feed."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("archive", __name__)
