"""Retries reach the queue through RQ's scheduler running as a thread of `flask worker`, not
a forked second copy of the app: a real worker process on the test Redis and the sink."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

from rq.scheduler import RQScheduler

from mailers import queue as mail_queue
from models.customers import Customer
from models.db import db
from models.services import notifications
from models.services.outbox import PENDING_KEY
from tests import factories
from tests.mailers.conftest import queued_ids, redis_connection, scheduled_count, wait_for

LOCK = RQScheduler.get_locking_key(mail_queue.QUEUE_NAME)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def scheduled_mail(app, n: int, delay: float) -> list[int]:
    """`n` e-mails whose only job is a retry RQ's scheduler releases after `delay` seconds
    (nothing on the queue itself: only a scheduler can get them out)."""
    customer = factories.customer(email="anna@example.test", language="en")
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        ids = [notifications.send_account_notice(None, record, "shipped", f"parcel {k}").id for k in range(n)]
        db.session.info.pop(PENDING_KEY)  # not put on the queue by the commit
        db.session.commit()
        assert mail_queue.enqueue_retry(ids, timedelta(seconds=delay))
    assert queued_ids(app) == [] and scheduled_count(app) == 1
    return ids


def lock_holder_pid(app) -> int | None:
    """The pid of the worker whose scheduler holds RQ's lock on the mail queue."""
    conn = redis_connection(app)
    name = conn.get(LOCK)
    if name is None:
        return None
    pid = conn.hget(f"rq:scheduler:{name.decode()}", "pid")
    return int(pid) if pid else None


def test_a_retry_is_released_by_the_worker_itself_without_a_second_process(mail_app, sink, worker_processes):
    worker = worker_processes.start()
    wait_for(lambda: lock_holder_pid(mail_app) == worker.pid or worker.poll() is not None, 30,
             message="the worker's scheduler to take RQ's lock")
    assert worker.poll() is None, worker_processes.logs()
    scheduled_at = time.monotonic()
    scheduled_mail(mail_app, 3, delay=2)

    wait_for(lambda: sink.count() == 3 or worker.poll() is not None, 30, message="the retried mail")
    assert worker.poll() is None, worker_processes.logs()
    assert time.monotonic() - scheduled_at >= 1  # released when due (RQ counts whole seconds), not at once
    assert children(worker.pid) == []  # no forked scheduler (REDIS_URL is set: no embedded Redis either)

    worker.send_signal(signal.SIGTERM)  # warm shutdown: the thread gives the lock back
    assert worker.wait(timeout=20) == 0, worker_processes.logs()
    assert redis_connection(mail_app).get(LOCK) is None
    assert sink.count() == 3


def test_another_worker_takes_the_scheduler_over_when_its_holder_stops(mail_app, sink, worker_processes):
    first = worker_processes.start()
    wait_for(lambda: lock_holder_pid(mail_app) == first.pid or first.poll() is not None, 30,
             message="the first worker to take RQ's lock")
    second = worker_processes.start()
    time.sleep(2)  # the second is running too, and tries for the lock every second
    assert second.poll() is None, worker_processes.logs()
    assert lock_holder_pid(mail_app) == first.pid

    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0, worker_processes.logs()
    wait_for(lambda: lock_holder_pid(mail_app) == second.pid, 5, message="the second worker to take the lock")
    scheduled_mail(mail_app, 2, delay=1)
    wait_for(lambda: sink.count() == 2 or second.poll() is not None, 30, message="the retried mail")
    assert second.poll() is None, worker_processes.logs()
