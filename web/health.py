"""Liveness (/healthz) and readiness (/readyz) for load balancers and operators.

Both are cheap: one statement on a pooled connection, no ORM models, and a Redis ping with
a short timeout of its own.
"""

from __future__ import annotations

import logging

import redis
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from mailers import queue as mail_queue
from models.db import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

# A readiness probe must answer well inside the prober's own timeout: Redis gets half a second.
READY_REDIS_TIMEOUT = 0.5


@bp.get("/healthz")
def healthz():
    """503 when the database is unreachable. The queue is reported but does not fail the
    check: mail waits in the outbox while Redis is down, and pages keep working."""
    checks = {"database": "ok", "queue": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        db.session.rollback()
        current_app.logger.warning("healthz: database unreachable: %s", exc)
        checks["database"] = "unavailable"
    try:
        # REDIS_URL, or the embedded server's socket; the probe's own half-second client (the
        # queue's waits 5 s for a reply: a hung Redis would outlast the container's check)
        _ready_redis().ping()
    except redis.RedisError:
        checks["queue"] = "unavailable"
    healthy = checks["database"] == "ok"
    body = {"status": "ok" if healthy else "unavailable", **checks}
    return jsonify(body), 200 if healthy else 503


def _migrations() -> tuple[frozenset[str], frozenset[str]]:
    """(head revisions, every revision) of the migration scripts this code ships, read once
    per process (the scripts only change with a deploy, which starts new processes)."""
    known = current_app.extensions.get("dossier_migrations")
    if known is None:
        script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
        known = (frozenset(script.get_heads()), frozenset(r.revision for r in script.walk_revisions()))
        current_app.extensions["dossier_migrations"] = known
    return known


def _ready_redis() -> redis.Redis:
    """A client of its own with short timeouts (the queue's waits up to 5 s for a reply)."""
    cache = current_app.extensions.setdefault("dossier_ready_redis", {})
    url = mail_queue.redis_url()
    if url not in cache:
        cache[url] = redis.Redis.from_url(
            url, socket_connect_timeout=READY_REDIS_TIMEOUT, socket_timeout=READY_REDIS_TIMEOUT
        )
    return cache[url]


@bp.get("/readyz")
def readyz():
    """200 when the database is reachable and at the migration head (or ahead of it: a newer
    release migrated it); else 503 saying why. Redis down is reported as degraded, not fatal:
    mail waits in the outbox meanwhile."""
    body: dict = {"database": "ok", "redis": "ok"}
    try:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        log.warning("readyz: database unreachable: %s", exc)
        body["database"] = "unavailable"
    else:
        heads, known = _migrations()
        if current and not current & known:
            # A revision this code has never heard of: a newer release has migrated the
            # database (its expand step) while this one still runs, as in a rolling deploy.
            # Expand migrations keep the previous release working (README, Operations), so
            # this process stays in the pool until it is replaced.
            body["database"] = "ahead of this release"
            body["migration"] = {"current": sorted(current), "head": sorted(heads)}
        elif current != heads:
            body["database"] = "not at the migration head"
            body["migration"] = {"current": sorted(current), "head": sorted(heads)}
    try:
        _ready_redis().ping()
    except (redis.RedisError, OSError):
        body["redis"] = "degraded"
    ready = body["database"] in ("ok", "ahead of this release")
    body["status"] = "ready" if ready else "not ready"
    return jsonify(body), 200 if ready else 503
