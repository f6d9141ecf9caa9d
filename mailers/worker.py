"""`flask --app wsgi worker` and `flask --app wsgi outbox flush`.

The worker runs jobs in its own process inside the app context (RQ's SimpleWorker: no
fork per job, the SMTP connection is reused), runs RQ's scheduler for retries, and
flushes the outbox periodically so mail written while Redis was down still goes out.
Each job is a batch of rows (mailers.jobs).
"""

from __future__ import annotations

import logging
import os
import threading

import click
from flask import Flask, current_app
from rq import SimpleWorker

from mailers import metrics, queue
from models.db import db
from models.services import outbox

log = logging.getLogger(__name__)


def flush() -> int:
    """Put every due row (queued, or claimed by a dead worker) back on the queue."""
    ids = outbox.due_ids()
    db.session.rollback()
    return queue.enqueue_many(ids)


def _flush_periodically(app: Flask, stop: threading.Event) -> None:
    interval = app.config["OUTBOX_FLUSH_SECONDS"]
    while not stop.wait(interval):
        with app.app_context():
            try:
                count = flush()
                if count:
                    log.info("outbox flush: %d rows re-enqueued", count)
            except Exception:  # noqa: BLE001 - the loop must survive a database hiccup
                log.exception("outbox flush failed")
            finally:
                db.session.remove()


def register(app: Flask) -> None:
    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
    @click.option("--name", default=None, help="Worker name (default: host and pid).")
    def worker(burst: bool, name: str | None) -> None:
        """Deliver e-mail from the outbox."""
        if not current_app.config.get("REDIS_URL"):
            from mailers import embedded_redis

            embedded_redis.ensure_running(current_app.instance_path)
        flushed = flush()
        click.echo(f"Worker on {queue.redis_url()}; {flushed} queued e-mails picked up.")
        stop = threading.Event()
        thread = threading.Thread(
            target=_flush_periodically, args=(current_app._get_current_object(), stop), daemon=True
        )
        thread.start()
        # RQ forks its scheduler. A database connection the child inherited would stay open
        # after this worker is killed, and with it the worker's transaction and its locks.
        os.register_at_fork(before=db.engine.dispose)
        try:
            SimpleWorker([queue.QUEUE_NAME], connection=queue.connection(), name=name,
                         serializer=queue.SERIALIZER, exception_handlers=[metrics.count_job_failure]).work(
                with_scheduler=True, burst=burst, logging_level=None  # LOG_LEVEL decides (web.logs)
            )
        finally:
            stop.set()

    outbox_cli = app.cli.commands.get("outbox")
    if outbox_cli is None:
        outbox_cli = click.Group("outbox", help="Inspect and repair the e-mail outbox.")
        app.cli.add_command(outbox_cli)

    @outbox_cli.command("flush")
    def flush_command() -> None:
        """Re-enqueue e-mails stuck in queued (e.g. written while Redis was down)."""
        click.echo(f"{flush()} e-mails put on the queue.")
