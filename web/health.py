"""GET /healthz for load balancers and operators."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

import redis

from mailers import queue as mail_queue
from models.db import db

bp = Blueprint("health", __name__)


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
        mail_queue.connection().ping()  # REDIS_URL, or the embedded server's socket
    except redis.RedisError:
        checks["queue"] = "unavailable"
    healthy = checks["database"] == "ok"
    body = {"status": "ok" if healthy else "unavailable", **checks}
    return jsonify(body), 200 if healthy else 503
