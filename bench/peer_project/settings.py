"""Settings of the django-newsletter project that ``bench/peer.py`` measures.

A plain production-like set: ``DEBUG = False``, SQLite, the stock SMTP e-mail backend to
the benchmark's local sink, sorl-thumbnail (django-newsletter requires a thumbnailer), and
no e-mail delays or batch pauses (``NEWSLETTER_EMAIL_DELAY`` and ``NEWSLETTER_BATCH_SIZE``
left unset, which is their default: off). ``PEER_DIR`` holds the database;
``PEER_SMTP_PORT`` is the sink's port on 127.0.0.1.
"""

import os
from pathlib import Path

HERE = Path(os.environ["PEER_DIR"])

DEBUG = False
SECRET_KEY = "peer-bench-secret-key-0123456789abcdef"
ALLOWED_HOSTS = ["*"]
USE_TZ = True
SITE_ID = 1
ROOT_URLCONF = "urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(HERE / "peer.db")}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.auth",
    "django.contrib.sites",
    "sorl.thumbnail",
    "newsletter",
]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = str(HERE / "media")

NEWSLETTER_THUMBNAIL = "sorl-thumbnail"
NEWSLETTER_USE_HTTPS = True

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ["PEER_SMTP_PORT"])
DEFAULT_FROM_EMAIL = "news@example.org"
