"""`flask --app wsgi worker` and `flask --app wsgi outbox flush`.

The worker listens on both outboxes' queues (mailers.queue.CHANNELS): e-mail and webhook
deliveries; the flush and the retry scheduler cover both.

The worker runs jobs in its own process inside the app context (RQ's SimpleWorker: no
fork per job, the SMTP connection is reused), runs RQ's scheduler for retries in a thread
of its own, and flushes the outbox periodically so mail written while Redis was down still
goes out. Each job is a batch of rows (mailers.jobs). Another thread runs the automatic
reminders once a day (mailers.dunning).

RQ's `work(with_scheduler=True)` would fork the scheduler: a second process with a full
copy of the app (some 60 MiB more once its pages are touched) that only moves due retries
from RQ's scheduled registry onto the queue once a second. The same RQScheduler runs here
as a thread instead: one Redis round trip a second, no second process.
"""

from __future__ import annotations

import logging
import threading

import click
import redis
from flask import Flask, current_app
from rq import SimpleWorker
from rq.scheduler import RQScheduler

from mailers import dunning, imports, metrics, queue
from models.db import db
from models.services import outbox, webhooks

log = logging.getLogger(__name__)


def flush() -> int:
    """Put every due e-mail (queued, or claimed by a dead worker) back on the queue; the
    webhook deliveries too (flush_webhooks), and the CSV imports left queued while Redis was
    down (mailers.imports). Returns the e-mails' count."""
    ids = outbox.due_ids()
    db.session.rollback()
    count = queue.enqueue_many(ids)
    flush_webhooks()
    imports.flush()
    return count


def flush_webhooks() -> int:
    """Put every due webhook delivery back on its queue."""
    ids = webhooks.due_ids()
    db.session.rollback()
    return queue.enqueue_many(ids, queue.WEBHOOKS)


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


def _sync_mail_periodically(app: Flask, stop: threading.Event) -> None:
    """Enqueue the mailbox sync every MAIL_SYNC_SECONDS (issue 21); the job itself does
    nothing when sync is off, and waits out its backoff after failures."""
    from mailers import mail_sync

    interval = app.config["MAIL_SYNC_SECONDS"]
    while not stop.wait(interval):
        with app.app_context():
            try:
                if mail_sync.due():
                    mail_sync.enqueue()
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("mail sync could not be enqueued")


SCHEDULER_INTERVAL = 1  # seconds, as RQ's own scheduler (an int: RQ adds it to the lock TTL)


def _scheduler(connection: redis.Redis) -> RQScheduler:
    return RQScheduler(queue.QUEUE_NAMES, connection=connection, interval=SCHEDULER_INTERVAL,
                       serializer=queue.SERIALIZER, logging_level=None)  # LOG_LEVEL decides (web.logs)


def _enqueue_due_retries_once(connection: redis.Redis) -> None:
    """`--burst`: what RQ does for a burst worker, move the retries already due, once."""
    scheduler = _scheduler(connection)
    if scheduler.acquire_locks():
        try:
            scheduler.enqueue_scheduled_jobs()
        finally:
            scheduler.release_locks()


def _schedule_periodically(connection: redis.Redis, stop: threading.Event) -> None:
    """RQ's scheduler loop, in a thread: one scheduler per queue holds RQ's lock (it lapses
    61 s after its holder died); a worker without it tries to take it every second, so
    another worker takes over within a second of the lapse (RQ's forked scheduler retried
    only every 10 minutes)."""
    scheduler = _scheduler(connection)
    failing = False
    try:
        while not stop.is_set():
            try:
                if scheduler.acquired_locks:
                    scheduler.heartbeat()  # refreshes the lock, or finds it taken over
                if not scheduler.acquired_locks:
                    if scheduler.acquire_locks():
                        scheduler.register_birth()
                if scheduler.acquired_locks:
                    scheduler.enqueue_scheduled_jobs()
                failing = False
            except redis.RedisError as error:  # Redis down: the worker logs it too; try again
                if not failing:
                    log.warning("retry scheduler: Redis unreachable (%s)", error)
                failing = True
            stop.wait(scheduler.interval)
    finally:
        try:
            if scheduler.acquired_locks:
                scheduler.stop()  # releases the lock at once, for the other workers
        except redis.RedisError:
            pass  # the lock lapses by itself


def register(app: Flask) -> None:
    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
    @click.option("--name", default=None, help="Worker name (default: host and pid).")
    def worker(burst: bool, name: str | None) -> None:
        """Deliver e-mail and webhooks from the outboxes, and run CSV imports."""
        if not current_app.config.get("REDIS_URL"):
            from mailers import embedded_redis

            embedded_redis.ensure_running(current_app.instance_path)
        flushed = flush()
        click.echo(f"Worker on {queue.redis_url()}; {flushed} queued e-mails picked up.")
        stop = threading.Event()
        threads = [threading.Thread(target=_flush_periodically, name="outbox-flush",
                                    args=(current_app._get_current_object(), stop), daemon=True)]
        if burst:
            _enqueue_due_retries_once(queue.connection())
        else:
            threads.append(threading.Thread(target=_schedule_periodically, name="retry-scheduler",
                                            args=(queue.connection(), stop), daemon=True))
            threads.append(threading.Thread(target=_sync_mail_periodically, name="mail-sync",
                                            args=(current_app._get_current_object(), stop), daemon=True))
            # Automatic reminders once a day (mailers.dunning).
            threads.append(threading.Thread(target=dunning.daily, name="reminders-daily",
                                            args=(current_app._get_current_object(), stop), daemon=True))
        for thread in threads:
            thread.start()
        try:
            # Mail and webhooks first: between jobs RQ takes the first queue that has one. A
            # long import holds its worker; run two workers where imports are big.
            SimpleWorker([*queue.QUEUE_NAMES, imports.QUEUE_NAME], connection=queue.connection(), name=name,
                         serializer=queue.SERIALIZER, exception_handlers=[metrics.count_job_failure]).work(
                burst=burst, logging_level=None  # no forked scheduler: see the module docstring
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=5)

    outbox_cli = app.cli.commands.get("outbox")
    if outbox_cli is None:
        outbox_cli = click.Group("outbox", help="Inspect and repair the e-mail outbox.")
        app.cli.add_command(outbox_cli)

    @app.cli.command("mailbox-sync")
    def mailbox_sync_command() -> None:
        """Sync the business's mailbox now, in this process (ignores the backoff)."""
        from mailers import mail_sync

        report = mail_sync.run(force=True)
        click.echo(f"{report.outcome}: {report.stored} stored, {report.duplicates} duplicates, "
                   f"{report.unmatched} unmatched, {report.not_synced} not synced"
                   + (f" — {report.error}" if report.error else ""))

    @outbox_cli.command("flush")
    def flush_command() -> None:
        """Re-enqueue e-mails stuck in queued (e.g. written while Redis was down)."""
        emails = flush()  # the webhook deliveries too
        click.echo(f"{emails} e-mails put on the queue.")
