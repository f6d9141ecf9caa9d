"""The RQ side of the outboxes: a Redis connection, and enqueueing ids after commit.

Two outboxes share this machinery, each a `Channel` with a queue and a job function of its
own: e-mail (models.outbox, mailers.jobs) and webhook deliveries (models.webhooks,
mailers.webhooks). Enqueueing never fails a web request: if Redis is unreachable the row
stays queued and `outbox flush` (run periodically by the worker) puts it on the queue later.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import redis
from flask import current_app
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import event

from mailers import embedded_redis
from models.db import db
from models.services.outbox import PENDING_KEY
from models.services.webhooks import PENDING_KEY as WEBHOOK_PENDING_KEY

log = logging.getLogger(__name__)
QUEUE_NAME = "mail"


def redis_url() -> str:
    """REDIS_URL, or the embedded server's socket in the app's instance folder."""
    return current_app.config.get("REDIS_URL") or embedded_redis.url(current_app.instance_path)


def connection() -> redis.Redis:
    """One client per process and URL (redis-py pools its connections).

    A second at most to connect and for each answer: a web request that queues mail waits
    no longer than that for a Redis that is down or hung (the rows wait in the outbox). The
    worker's blocking reads are not cut short: RQ's Worker raises the read timeout of the
    connection it is given above its dequeue timeout."""
    cache = current_app.extensions.setdefault("dossier_redis", {})
    url = redis_url()
    if url not in cache:
        cache[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return cache[url]


# Jobs carry only outbox ids: stored as JSON, not pickled, so nothing in Redis can make a
# worker run code it was not meant to.
SERIALIZER = JSONSerializer


def mail_queue() -> Queue:
    return Queue(QUEUE_NAME, connection=connection(), serializer=SERIALIZER)


# Ids per job: a worker claims, routes and loads a job's rows together, so the per-job and
# per-query costs are shared; small enough that two workers share a burst evenly.
BATCH_SIZE = 50
JOB_FUNCTION = "mailers.jobs.deliver_batch"
# A job runs until its rows are done; a live worker renews its claims (outbox.extend_claims),
# so RQ's own timeout (which would kill the job between a send and its status commit) is
# set far out of the way.
JOB_TIMEOUT = 6 * 3600
# Each row points at the job that carries it (`outbox-job:<id>`), so a flush can see that a
# row still waits on the queue. Kept a week; after that a flush may queue a row a second
# time, which costs only a skipped claim.
MARKER_TTL = 7 * 86400
WAITING = {b"queued", b"scheduled", b"deferred"}


@dataclass(frozen=True)
class Channel:
    """One outbox on the queue: its RQ queue, job function, ids pending on the session
    (`session.info[pending_key]`), job and marker key prefixes, and ids per job."""

    queue_name: str
    job_function: str
    pending_key: str
    prefix: str
    batch_size: int


MAIL = Channel(QUEUE_NAME, JOB_FUNCTION, PENDING_KEY, "outbox", BATCH_SIZE)
# A webhook job posts one delivery after another, each up to its timeout: fewer per job,
# so a slow endpoint holds up few others.
WEBHOOKS = Channel("webhooks", "mailers.webhooks.deliver_batch", WEBHOOK_PENDING_KEY, "webhook", 10)
CHANNELS = (MAIL, WEBHOOKS)
QUEUE_NAMES = [channel.queue_name for channel in CHANNELS]


def queue_of(channel: Channel) -> Queue:
    return Queue(channel.queue_name, connection=connection(), serializer=SERIALIZER)


def _marker(row_id: int, channel: Channel = MAIL) -> str:
    return f"{channel.prefix}-job:{row_id}"


def _new_job_id(row_ids: list[int], kind: str = "batch", channel: Channel = MAIL) -> str:
    return f"{channel.prefix}-{kind}-{row_ids[0]}-{secrets.token_hex(6)}"


def _chunks(ids: list[int], size: int = BATCH_SIZE) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def enqueue_retry(email_ids: list[int], delay: timedelta, channel: Channel = MAIL) -> bool:
    """Schedule the next attempt of rows that failed with the same delay; False (and a log
    line) if Redis is unreachable (the flush picks the rows up once they are due)."""
    if not email_ids:
        return True
    try:
        # RQ keeps scheduled times in whole seconds (rounded down), so it could release the
        # job up to a second before the rows are due; claim_batch() would then skip them and
        # the retry wait for the next flush. Round up instead.
        at = datetime.fromtimestamp(math.ceil((datetime.now(timezone.utc) + delay).timestamp()), timezone.utc)
        queue, conn = queue_of(channel), connection()
        with conn.pipeline() as pipe:
            for chunk in _chunks(sorted(email_ids), channel.batch_size):
                job_id = _new_job_id(chunk, "retry", channel)
                queue.enqueue_at(at, channel.job_function, chunk, job_id=job_id, result_ttl=0, failure_ttl=86400,
                                 job_timeout=JOB_TIMEOUT, pipeline=pipe)
                for email_id in chunk:
                    pipe.set(_marker(email_id, channel), job_id, ex=MARKER_TTL)
            pipe.execute()
        return True
    except redis.RedisError as error:
        log.warning("%s %s stay queued: Redis unreachable (%s)", channel.prefix, email_ids, error)
        return False


def _without_waiting_job(conn: redis.Redis, queue: Queue, email_ids: list[int], channel: Channel = MAIL) -> list[int]:
    """The ids whose last job is not waiting any more (finished, started by a worker that
    died, or gone): those need a new one."""
    with conn.pipeline() as pipe:
        for email_id in email_ids:
            pipe.get(_marker(email_id, channel))
        job_ids = pipe.execute()
    distinct = sorted({j for j in job_ids if j})
    with conn.pipeline() as pipe:
        for job_id in distinct:
            pipe.hget(f"{queue.job_class.redis_job_namespace_prefix}{job_id.decode()}", "status")
        waiting = {j for j, status in zip(distinct, pipe.execute()) if status in WAITING}
    return [i for i, j in zip(email_ids, job_ids) if j not in waiting]


def enqueue_many(email_ids: list[int], channel: Channel = MAIL) -> int:
    """Put ids on the queue in jobs of BATCH_SIZE (commit hook, flush), skipping rows whose
    job still waits. Returns how many ids were enqueued.

    A row whose job was started by a worker that died is enqueued again (its job is
    not waiting any more); the claim makes sure it is sent once.
    """
    if not email_ids:
        return 0
    ids = sorted(set(email_ids))
    try:
        queue, conn = queue_of(channel), connection()
        todo = _without_waiting_job(conn, queue, ids, channel)
        with conn.pipeline() as pipe:
            for chunk in _chunks(todo, channel.batch_size):
                job_id = _new_job_id(chunk, channel=channel)
                queue.enqueue(channel.job_function, chunk, job_id=job_id, result_ttl=0, failure_ttl=86400,
                              job_timeout=JOB_TIMEOUT, pipeline=pipe)
                for email_id in chunk:
                    pipe.set(_marker(email_id, channel), job_id, ex=MARKER_TTL)
            pipe.execute()
        return len(todo)
    except redis.RedisError as error:
        log.warning("%d %s rows stay queued: Redis unreachable (%s)", len(ids), channel.prefix, error)
        return 0


def _after_commit(session) -> None:
    if session.in_nested_transaction():  # a released savepoint: the outer transaction is still open
        return
    for channel in CHANNELS:
        ids = session.info.pop(channel.pending_key, None)
        if ids:
            enqueue_many(sorted(ids), channel)


def _after_rollback(session, previous_transaction) -> None:
    if not previous_transaction.nested:  # a savepoint rollback keeps the outer rows
        for channel in CHANNELS:
            session.info.pop(channel.pending_key, None)


def install_commit_hooks() -> None:
    """Rows reach the queue only once their transaction has committed."""
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_soft_rollback", _after_rollback)
