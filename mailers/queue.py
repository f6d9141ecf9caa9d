"""The RQ side of the outbox: a Redis connection, and enqueueing ids after commit.

Enqueueing never fails a web request: if Redis is unreachable the row stays queued and
`outbox flush` (run periodically by the worker) puts it on the queue later.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta, timezone

import redis
from flask import current_app
from rq import Queue
from sqlalchemy import event

from models.db import db
from models.services.outbox import PENDING_KEY
from web.config import INSTANCE_DIR

log = logging.getLogger(__name__)
QUEUE_NAME = "mail"
EMBEDDED_SOCKET = INSTANCE_DIR / "redis.sock"


def redis_url() -> str:
    return current_app.config.get("REDIS_URL") or f"unix://{EMBEDDED_SOCKET}"


def connection() -> redis.Redis:
    """One client per process and URL (redis-py pools its connections)."""
    cache = current_app.extensions.setdefault("dossier_redis", {})
    url = redis_url()
    if url not in cache:
        cache[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    return cache[url]


def mail_queue() -> Queue:
    return Queue(QUEUE_NAME, connection=connection())


def enqueue(email_id: int, delay: timedelta | None = None) -> bool:
    """Put one outbox id on the queue; False (and a log line) if Redis is unreachable."""
    try:
        queue = mail_queue()
        if delay:
            # RQ keeps scheduled times in whole seconds (rounded down), so it could release the
            # job up to a second before the row is due; claim() would then skip it and the
            # retry wait for the next flush. Round up instead.
            at = datetime.fromtimestamp(math.ceil((datetime.now(timezone.utc) + delay).timestamp()), timezone.utc)
            queue.enqueue_at(at, "mailers.jobs.deliver", email_id, result_ttl=0, failure_ttl=86400)
        else:
            queue.enqueue("mailers.jobs.deliver", email_id, result_ttl=0, failure_ttl=86400)
        return True
    except redis.RedisError as error:
        log.warning("outbox %s stays queued: Redis unreachable (%s)", email_id, error)
        return False


def enqueue_many(email_ids: list[int]) -> int:
    """Pipeline a batch of ids (flush); returns how many reached Redis."""
    if not email_ids:
        return 0
    try:
        queue = mail_queue()
        with connection().pipeline() as pipe:
            for email_id in email_ids:
                queue.enqueue("mailers.jobs.deliver", email_id, result_ttl=0, failure_ttl=86400, pipeline=pipe)
            pipe.execute()
        return len(email_ids)
    except redis.RedisError as error:
        log.warning("%d outbox rows stay queued: Redis unreachable (%s)", len(email_ids), error)
        return 0


def _after_commit(session) -> None:
    if session.in_nested_transaction():  # a released savepoint: the outer transaction is still open
        return
    ids = session.info.pop(PENDING_KEY, None)
    if ids:
        enqueue_many(sorted(ids))


def _after_rollback(session, previous_transaction) -> None:
    if not previous_transaction.nested:  # a savepoint rollback keeps the outer rows
        session.info.pop(PENDING_KEY, None)


def install_commit_hooks() -> None:
    """Rows reach the queue only once their transaction has committed."""
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_soft_rollback", _after_rollback)
