"""WSGI entry point for gunicorn: ``service.wsgi:app``."""

from service import create_app
from service.logging_setup import configure_logging

configure_logging()
app = create_app()
