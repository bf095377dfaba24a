# The Opply API image: one image for every role.
#
#   docker build -t opply-api .
#   docker run IMAGE                                  gunicorn on $PORT (default 8000)
#   docker run IMAGE python manage.py migrate         any command, in the app's environment
#   docker run IMAGE celery -A config worker          the Celery worker (beat: celery -A config beat)
#
# Configuration comes from the environment, as everywhere else (README,
# .env.sample); DJANGO_SETTINGS_MODULE defaults to production here, which
# refuses to start without DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS.
#
# PYTHON_IMAGE lets machines without a registry build from a local stand-in
# (make smoke PYTHON_IMAGE=localhost/python:3.11-slim-bookworm). The builder
# and the final stage must use the same base: the virtualenv points at its Python.
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the virtualenv, with pip and its caches ---------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/venv
COPY requirements/base.txt /tmp/requirements.txt
# Wheels only: every pinned dependency ships one for CPython 3.11 on x86_64 and
# arm64, so nothing is compiled and the builder needs no compiler. A dependency
# that loses its wheel fails the build here instead of pulling in a toolchain.
# pip and setuptools are not needed at run time: they stay behind, and so do
# the translation sources (.po; Django reads only the compiled .mo files) and
# every language but English (the API and its admin speak English only:
# LANGUAGE_CODE en-us, no LocaleMiddleware), about 20 MB of Django's, DRF's
# and the other apps' locale directories: room for the observability
# libraries (Sentry, OpenTelemetry) within the image's size budget. So does
# drf-spectacular-sidecar's ReDoc bundle (5 MB): only Swagger UI is served,
# and collectstatic leaves ReDoc out anyway (OpplyStaticFilesConfig).
RUN /opt/venv/bin/pip install --only-binary=:all: --requirement /tmp/requirements.txt \
 && /opt/venv/bin/pip uninstall --yes --quiet setuptools \
 && /opt/venv/bin/python -m pip uninstall --yes --quiet pip \
 && find /opt/venv -name '*.po' -delete \
 && find /opt/venv/lib -regextype posix-extended -type d -regex '.*/locale/[^/]+' ! -name en -prune -exec rm -rf {} + \
 && rm -rf /opt/venv/lib/python3.11/site-packages/drf_spectacular_sidecar/static/drf_spectacular_sidecar/redoc

# --- final image ------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    PORT=8000

# An unprivileged user with a fixed id (volume permissions, Kubernetes runAsUser),
# and the one place the app may write: celery beat's schedule (a volume in compose).
RUN groupadd --system --gid 10001 opply \
 && useradd --system --uid 10001 --gid opply --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin opply \
 && install --directory --owner opply --group opply --mode 0750 /var/lib/opply

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Code stays owned by root: the app user can read it, never change it.
COPY . /app

# Static files are collected at build time (hashed names, compressed copies for
# WhiteNoise). Settings need a secret key to load: this one exists only for
# this RUN, is never in the image's environment, and signs nothing.
# The app's own modules are compiled here too: at run time the file system may
# be read-only and PYTHONDONTWRITEBYTECODE is set, so nothing is cached later.
RUN DJANGO_SECRET_KEY=collectstatic-at-build-time-only DJANGO_ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput --verbosity 0 \
 && python -m compileall -q /app/config /app/opply

# The release error reports are tagged with (docs/observability.md):
# docker build --build-arg OPPLY_RELEASE=$(git rev-parse --short HEAD) ...
# Last, so that a new value rebuilds no other layer.
ARG OPPLY_RELEASE=""
ENV OPPLY_RELEASE=${OPPLY_RELEASE}

USER opply:opply
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py"]

CMD ["gunicorn", "--config", "config/gunicorn.py", "config.wsgi"]
