"""The Celery side of Tidings: app, task base class, thin tasks over service functions."""
