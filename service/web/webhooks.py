"""Provider webhooks (SES, SendGrid, Mailgun, Postmark)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("webhooks", __name__)
