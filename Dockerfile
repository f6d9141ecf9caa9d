# syntax=docker/dockerfile:1
# Dossier: one image for the web server (gunicorn, the default command) and the mail worker
# (`flask --app wsgi worker`, compose.yaml's worker service). Two stages: the runtime
# dependencies are installed into a virtualenv in the first; the image keeps that
# virtualenv, the code, and the Debian packages WeasyPrint needs for PDF letters (the same
# ones .ci/run installs), and no compiler, pip cache or package lists.
#
#   docker build -t dossier .
#   docker run -e SECRET_KEY=… -e DATABASE_URL=postgresql://… -e REDIS_URL=redis://… -p 8000:8000 dossier

# The Python of pyproject.toml (>=3.11) and of the venv `make` builds; Debian 12, as CI runs on.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
# The runtime dependencies exactly as pyproject.toml lists them (not the dev and test extras).
# The project itself is not pip-installed: it runs from /app, next to its templates,
# translations and migrations (web/config.py finds them from its own path).
RUN python -m venv /opt/venv \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > requirements.txt \
 && /opt/venv/bin/pip install --prefer-binary -r requirements.txt
COPY translations ./translations
RUN /opt/venv/bin/pybabel compile -d translations

FROM ${PYTHON_IMAGE}
# Pango for WeasyPrint (PDF letters) and a font: the packages .ci/run installs.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
# The processes run as this user; the code belongs to root and is read-only to them. Its home
# is the instance folder (DOSSIER_INSTANCE_DIR): only used without DATABASE_URL / REDIS_URL.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/dossier \
      --shell /usr/sbin/nologin dossier
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY wsgi.py gunicorn.conf.py ./
COPY web ./web
COPY models ./models
COPY admin ./admin
COPY portal ./portal
COPY api ./api
COPY mailers ./mailers
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
COPY --from=build /src/translations ./translations
RUN /opt/venv/bin/python -m compileall -q /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DOSSIER_INSTANCE_DIR=/var/lib/dossier \
    WEB_CONCURRENCY=2
USER dossier
EXPOSE 8000
# Liveness: /healthz (503 while the database is unreachable). compose.yaml asks /readyz instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# gunicorn reads gunicorn.conf.py from /app (preloaded app, JSON logs, metrics directory) and
# WEB_CONCURRENCY for its number of workers.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "wsgi:app"]
