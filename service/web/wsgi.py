"""WSGI entry point for gunicorn: ``service.web.wsgi:app``."""

from service.logging_setup import configure_logging
from service.web.app import create_app

configure_logging()
app = create_app()
