"""Batches: one RQ job carries many outbox rows, and each row still has its own fate.

A bad row (refused, temporarily refused, unbuildable) neither fails nor delays the others;
a job whose rows another worker already took sends nothing; a dead server stops a batch
at once instead of a timeout per message. Real Redis, real RQ worker, real SMTP sink.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter

from sqlalchemy import update

from mailers import jobs
from mailers import queue as mail_queue
from models.customers import Customer
from models.db import db, now_utc
from models.documents import Document
from models.outbox import MailStatus, OutboundEmail
from models.services import notifications
from models.services.outbox import CLAIM_LEASE
from tests import factories
from tests.mailers.conftest import outbox_row, outbox_rows, queued_ids, scheduled_count


def queue_invoices(app, customers) -> list[int]:
    """One invoice mail per customer, all in one transaction: one job on the queue."""
    invoices = [factories.invoice(c) for c in customers]
    with app.app_context():
        rows = [notifications.send_invoice(None, db.session.get(Document, inv.id)) for inv in invoices]
        db.session.commit()
        return [r.id for r in rows]


def job_count(app) -> int:
    with app.app_context():
        return mail_queue.mail_queue().count


def test_one_commit_is_one_job_of_many_rows(mail_app, sink, run_worker):
    customers = [factories.customer(email=f"c{n}@example.test") for n in range(mail_queue.BATCH_SIZE + 3)]
    ids = queue_invoices(mail_app, customers)
    assert job_count(mail_app) == 2  # BATCH_SIZE ids, then the rest
    assert queued_ids(mail_app) == ids
    run_worker()
    assert [r.status for r in outbox_rows(mail_app)] == [MailStatus.sent] * len(ids)
    assert sorted(m.rcpt_tos[0] for m in sink.received()) == sorted(c.email for c in customers)


def test_a_permanently_refused_row_fails_alone_and_the_rest_of_the_batch_is_sent(mail_app, sink, run_worker):
    customers = [factories.customer(email=f"c{n}@example.test") for n in range(5)]
    sink.refuse["c2@example.test"] = "550 5.1.1 No such user (test)"
    ids = queue_invoices(mail_app, customers)
    assert job_count(mail_app) == 1
    run_worker()

    rows = {r.id: r for r in outbox_rows(mail_app)}
    bad = rows[ids[2]]
    assert (bad.status, bad.attempts) == (MailStatus.failed, 1)
    assert "550 5.1.1 No such user (test)" in bad.last_error
    assert [rows[i].status for i in ids if i != bad.id] == [MailStatus.sent] * 4
    assert sorted(m.rcpt_tos[0] for m in sink.received()) == [f"c{n}@example.test" for n in (0, 1, 3, 4)]
    assert scheduled_count(mail_app) == 0 and queued_ids(mail_app) == []  # nothing to retry


def test_a_temporarily_refused_row_is_retried_alone(mail_app, sink, run_worker):
    customers = [factories.customer(email=f"c{n}@example.test") for n in range(4)]
    sink.refuse["c1@example.test"] = "451 4.7.1 Greylisted (test)"
    ids = queue_invoices(mail_app, customers)
    run_worker()

    rows = {r.id: r for r in outbox_rows(mail_app)}
    assert rows[ids[1]].status == MailStatus.queued and "451 4.7.1" in rows[ids[1]].last_error
    assert [rows[i].status for i in ids if i != ids[1]] == [MailStatus.sent] * 3
    assert scheduled_count(mail_app) == 1  # one retry job, for that row only
    with mail_app.app_context():
        from rq.registry import ScheduledJobRegistry

        registry = ScheduledJobRegistry(mail_queue.QUEUE_NAME, connection=mail_queue.connection())
        (job,) = [mail_queue.mail_queue().fetch_job(j) for j in registry.get_job_ids()]
        assert job.args[0] == [ids[1]]


def test_a_job_whose_rows_another_worker_sent_sends_nothing(mail_app, sink, run_worker):
    customers = [factories.customer(email=f"c{n}@example.test") for n in range(3)]
    ids = queue_invoices(mail_app, customers)
    with mail_app.app_context():  # another worker got there first (e.g. after a flush)
        assert set(jobs.deliver_batch(ids).values()) == {"sent"}
    assert sink.count() == 3
    run_worker()  # the job carrying the same ids
    assert sink.count() == 3
    assert Counter(m.message_id for m in sink.received()) == Counter({r.message_id: 1 for r in outbox_rows(mail_app)})


def test_rows_held_by_a_live_worker_are_skipped_and_a_dead_workers_rows_are_taken(mail_app, sink):
    customers = [factories.customer(email=f"c{n}@example.test") for n in range(3)]
    ids = queue_invoices(mail_app, customers)
    with mail_app.app_context():
        factories.write_directly(update(OutboundEmail).where(OutboundEmail.id == ids[0])
                           .values(status=MailStatus.sending, claimed_at=now_utc(), attempts=1))
        db.session.commit()
        assert jobs.deliver_batch(ids) == {ids[1]: "sent", ids[2]: "sent"}
        assert outbox_row(mail_app, ids[0]).status == MailStatus.sending  # still the live worker's
        factories.write_directly(update(OutboundEmail).where(OutboundEmail.id == ids[0])
                           .values(claimed_at=now_utc() - 2 * CLAIM_LEASE))
        db.session.commit()
        assert jobs.deliver_batch(ids) == {ids[0]: "sent"}  # its claim ran out: the worker died
    row = outbox_row(mail_app, ids[0])
    assert (row.status, row.attempts) == (MailStatus.sent, 2)
    assert sink.count() == 3


def test_a_dead_server_stops_the_batch_at_once_and_every_row_waits_for_its_retry(mail_app, sink, run_worker):
    customers = [factories.customer(email=f"c{n}@example.test") for n in range(5)]
    ids = queue_invoices(mail_app, customers)
    sink.stop()
    run_worker()
    rows = outbox_rows(mail_app)
    assert [(r.status, r.attempts) for r in rows] == [(MailStatus.queued, 1)] * 5
    assert all("ConnectionRefusedError" in r.last_error for r in rows)
    assert scheduled_count(mail_app) == 1  # the same delay for all: one retry job

    sink.start()
    with mail_app.app_context():
        factories.write_directly(update(OutboundEmail).values(next_attempt_at=None))
        db.session.commit()
        assert set(jobs.deliver_batch(ids).values()) == {"sent"}
    assert sink.count() == 5


def test_a_row_that_cannot_be_built_fails_alone(mail_app, sink, run_worker):
    customers = [factories.customer(email=f"c{n}@example.test") for n in range(3)]
    ids = queue_invoices(mail_app, customers)
    with mail_app.app_context():  # a template that does not exist: a bug, shown on the row
        factories.write_directly(update(OutboundEmail).where(OutboundEmail.id == ids[1]).values(template="no_such"))
        db.session.commit()
    run_worker()
    rows = {r.id: r for r in outbox_rows(mail_app)}
    assert rows[ids[1]].status == MailStatus.failed
    assert rows[ids[1]].last_error.startswith("internal error: KeyError")
    assert [rows[i].status for i in (ids[0], ids[2])] == [MailStatus.sent] * 2
    assert sink.count() == 2


def test_a_line_longer_than_smtp_allows_arrives_intact(mail_app, sink, run_worker):
    customer = factories.customer(email="anna@example.test", language="en")
    long_line = "tracking " + "x" * 1500
    with mail_app.app_context():
        notifications.send_account_notice(None, db.session.get(Customer, customer.id), "shipped", long_line)
        db.session.commit()
    run_worker()
    (mail,) = sink.received()
    assert all(len(line) <= 998 for line in mail.raw.split(b"\r\n"))
    assert long_line in mail.text and long_line in mail.html


def test_jobs_are_stored_as_json_not_pickled(mail_app, sink, run_worker):
    """A job carries only outbox ids; stored as JSON, nothing in Redis can make a worker
    unpickle (run) what someone put there."""
    customer = factories.customer(email="anna@example.test", language="en")
    with mail_app.app_context():
        notifications.send_account_notice(None, db.session.get(Customer, customer.id), "shipped", "On its way")
        db.session.commit()
        (job,) = mail_queue.mail_queue().get_jobs()
        stored = mail_queue.connection().hget(job.key, "data")
    function, _instance, args, _kwargs = json.loads(zlib.decompress(stored))
    assert function == "mailers.jobs.deliver_batch" and len(args) == 1 and all(isinstance(i, int) for i in args[0])
    run_worker()
    (mail,) = sink.received()
    assert mail.subject.startswith("Your order has been shipped")
