"""CSV imports on the RQ workers: the `imports` queue, its job and its flush.

Like the outbox: the web request commits the job row first and enqueues after; if Redis is
unreachable the row stays `queued` and the worker's periodic flush (and `outbox flush`)
puts it on the queue once Redis is back. A job is claimed in the database before it runs,
so a job enqueued twice runs once; one whose worker died is taken over after
runner.STALE_AFTER and resumes after the last committed batch.
"""

from __future__ import annotations

import logging
import secrets

import redis
from rq import Queue

from mailers import queue
from models.db import db
from models.services.csv_import import runner

log = logging.getLogger(__name__)
QUEUE_NAME = "imports"
JOB_FUNCTION = "mailers.imports.run"
JOB_TIMEOUT = 6 * 3600  # a big file takes minutes; the claim, not RQ, guards against a dead worker
MARKER_TTL = 7 * 86400


def import_queue() -> Queue:
    return Queue(QUEUE_NAME, connection=queue.connection(), serializer=queue.SERIALIZER)


def _marker(job_id: int) -> str:
    return f"import-job:{job_id}"


def enqueue(job_ids: list[int]) -> bool:
    """Put import jobs on the queue unless their last RQ job still waits; False (and a log
    line) if Redis is unreachable: the rows stay queued for the flush."""
    if not job_ids:
        return True
    try:
        conn, rq_queue = queue.connection(), import_queue()
        waiting = []
        for job_id in job_ids:
            previous = conn.get(_marker(job_id))
            status = conn.hget(f"{rq_queue.job_class.redis_job_namespace_prefix}{previous.decode()}", "status") \
                if previous else None
            if status not in queue.WAITING:
                waiting.append(job_id)
        with conn.pipeline() as pipe:
            for job_id in waiting:
                rq_id = f"import-{job_id}-{secrets.token_hex(6)}"
                rq_queue.enqueue(JOB_FUNCTION, job_id, job_id=rq_id, result_ttl=0, failure_ttl=86400,
                                 job_timeout=JOB_TIMEOUT, pipeline=pipe)
                pipe.set(_marker(job_id), rq_id, ex=MARKER_TTL)
            pipe.execute()
        return True
    except redis.RedisError as error:
        log.warning("imports %s stay queued: Redis unreachable (%s)", job_ids, error)
        return False


def reachable() -> bool:
    try:
        return bool(queue.connection().ping())
    except redis.RedisError:
        return False


def run(job_id: int) -> str:
    """The RQ job: claim the import and run it to the end (or resume it)."""
    try:
        if not runner.claim(job_id):
            return "skipped"
        job = runner.run_job(job_id)
        return job.status.value if job else "gone"
    finally:
        db.session.remove()


def flush() -> int:
    """Re-enqueue imports left queued (Redis was down) or abandoned by a dead worker."""
    ids = runner.due_job_ids()
    db.session.rollback()
    if ids and enqueue(ids):
        return len(ids)
    return 0
