# syntax=docker/dockerfile:1
# Tidings: one image for every part (web, worker, beat, bounces, migrate); compose.yaml
# picks the command. Build: docker build -t tidings:local .
FROM python:3.11-slim

# A fixed uid/gid, so a bind-mounted DKIM key can be made readable to exactly this user
# on the host (chown 10001 deploy/dkim/*.private).
ARG APP_UID=10001
ARG APP_GID=10001

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TIDINGS_DATA_DIR=/data

RUN groupadd --system --gid "${APP_GID}" tidings \
    && useradd --system --uid "${APP_UID}" --gid tidings --home-dir /data \
        --no-create-home --shell /usr/sbin/nologin tidings \
    && mkdir -p /data \
    && chown tidings:tidings /data

WORKDIR /app

# Dependencies first, read from pyproject.toml alone, so a code change reuses this layer.
# Every dependency ships manylinux wheels except dkimpy, which is pure Python (its sdist
# builds with setuptools alone): no compiler in the image. Checked with
# `pip install --dry-run --only-binary=:all: --platform manylinux_2_36_x86_64 ...`.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps))" \
    && pip install --prefer-binary -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The whole tree stays at /app: templates/, migrations/, alembic.ini and demo/ are read
# relative to the source (service.web.app.ROOT, service.migrate.ROOT), so the package is
# installed editable in place rather than copied into site-packages.
COPY . .
RUN pip install --no-deps -e . \
    && python -m compileall -q service worker \
    && tidings --help >/dev/null

USER tidings
VOLUME ["/data"]
# 8000: web (gunicorn); 2525: the bounce SMTP listener.
EXPOSE 8000 2525
CMD ["tidings", "web", "--host", "0.0.0.0", "--port", "8000"]
