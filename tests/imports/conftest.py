"""Fixtures for the CSV import tests: files written in each encoding and dialect, the
session's own Redis (tests/mailers), and an RQ worker run in burst mode on the imports queue."""

from __future__ import annotations

import signal

import pytest
import redis
from rq import SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry

from mailers import imports as import_queue
from mailers import queue as mail_queue
from models.db import db
from models.services.csv_import import runner
from tests.mailers.conftest import test_redis_url  # noqa: F401 (the session's own Redis, a fixture)

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens: Redis is down


def encode(text: str, encoding: str) -> bytes:
    """A file as a package writes it: `utf-8-sig` with a BOM, `utf-8`, or `cp1252`."""
    return text.replace("\n", "\r\n").encode(encoding)


@pytest.fixture
def import_app(app, test_redis_url):  # noqa: F811
    """The session app queueing on the test Redis (flushed before and after)."""
    saved = app.config.get("REDIS_URL")
    flush = redis.Redis.from_url(test_redis_url)
    flush.flushdb()
    app.config["REDIS_URL"] = test_redis_url
    app.extensions.pop("dossier_redis", None)
    yield app
    for client in app.extensions.pop("dossier_redis", {}).values():
        client.close()
    app.config["REDIS_URL"] = saved
    flush.flushdb()
    flush.close()


@pytest.fixture
def redis_down(app):
    saved = app.config.get("REDIS_URL")
    app.config["REDIS_URL"] = DEAD_REDIS
    app.extensions.pop("dossier_redis", None)
    yield app
    app.extensions.pop("dossier_redis", None)
    app.config["REDIS_URL"] = saved


@pytest.fixture
def run_worker(import_app):
    """A real RQ SimpleWorker on the mail and imports queues, in burst mode (as
    `flask worker --burst`); a job that raised fails the test with its traceback."""

    def run() -> None:
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        with import_app.app_context():
            connection = mail_queue.connection()
            try:
                SimpleWorker([mail_queue.QUEUE_NAME, import_queue.QUEUE_NAME], connection=connection,
                             serializer=mail_queue.SERIALIZER).work(burst=True, logging_level="WARNING")
            finally:
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)
            failed = FailedJobRegistry(import_queue.QUEUE_NAME, connection=connection,
                                       serializer=mail_queue.SERIALIZER)
            problems = failed.get_job_ids()
            if problems:
                details = []
                for job_id in problems:
                    result = Job.fetch(job_id, connection=connection, serializer=mail_queue.SERIALIZER).latest_result()
                    details.append(result.exc_string if result else job_id)
                raise AssertionError("jobs raised:\n" + "\n".join(details))

    return run


def queued_import_ids(app) -> list[int]:
    with app.app_context():
        return [job.args[0] for job in import_queue.import_queue().get_jobs()]


def run_file(app, kind: str, data: bytes, *, dry_run: bool = False, batch_rows: int = runner.BATCH_ROWS,
             mapping: dict[int, str] | None = None, decimal: str | None = None):
    """Store `data` as an import job and run it here as a worker would; the finished job."""
    import io

    with app.test_request_context():
        job = runner.create_job(None, kind, f"{kind}.csv", io.BytesIO(data), 1 << 30)
        if mapping is not None or decimal is not None:
            runner.set_mapping(job, mapping if mapping is not None else runner.job_mapping(job),
                               decimal or job.decimal)
        runner.queue_run(job, dry_run=dry_run)
        db.session.commit()
        assert runner.claim(job.id)
        job = runner.run_job(job.id, batch_rows=batch_rows)
        failures = [(f.row, f.column, f.message) for f in runner.failures(job)]
        db.session.expunge(job)
        return job, failures
