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


def enqueue_retry(email_id: int, delay: timedelta) -> bool:
    """Schedule the next attempt of a row; False (and a log line) if Redis is unreachable
    (the flush picks the row up once it is due)."""
    try:
        # RQ keeps scheduled times in whole seconds (rounded down), so it could release the
        # job up to a second before the row is due; claim() would then skip it and the
        # retry wait for the next flush. Round up instead.
        at = datetime.fromtimestamp(math.ceil((datetime.now(timezone.utc) + delay).timestamp()), timezone.utc)
        # Its own job id: the job running now (the row's own id) is deleted when it ends.
        mail_queue().enqueue_at(
            at, "mailers.jobs.deliver", email_id, job_id=f"{job_id(email_id)}-retry-{at.timestamp():.0f}",
            result_ttl=0, failure_ttl=86400,
        )
        return True
    except redis.RedisError as error:
        log.warning("outbox %s stays queued: Redis unreachable (%s)", email_id, error)
        return False


WAITING = {b"queued", b"scheduled", b"deferred"}


def job_id(email_id: int) -> str:
    """One job id per row, so a flush can see that a row is already waiting on the queue."""
    return f"outbox-{email_id}"


def enqueue_many(email_ids: list[int]) -> int:
    """Pipeline a batch of ids (commit hook, flush), skipping rows whose job still waits.

    A row whose job was started by a worker that died is enqueued again (its job is
    not waiting any more); claim() makes sure it is sent once.
    """
    if not email_ids:
        return 0
    try:
        queue = mail_queue()
        conn = connection()
        with conn.pipeline() as pipe:
            for email_id in email_ids:
                pipe.hget(f"{queue.job_class.redis_job_namespace_prefix}{job_id(email_id)}", "status")
            statuses = pipe.execute()
        todo = [i for i, status in zip(email_ids, statuses) if status not in WAITING]
        with conn.pipeline() as pipe:
            for email_id in todo:
                queue.enqueue("mailers.jobs.deliver", email_id, job_id=job_id(email_id),
                              result_ttl=0, failure_ttl=86400, pipeline=pipe)
            pipe.execute()
        return len(todo)
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
