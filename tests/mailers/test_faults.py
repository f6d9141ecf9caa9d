"""Faults: a worker killed mid-batch, Redis down, the SMTP server down, a 5xx answer.

Everything is real: `flask --app wsgi worker` subprocesses, a redis-server of our own for the
Redis outage, the aiosmtpd sink stopped and started on its port.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from mailers import jobs, messages
from mailers import queue as mail_queue
from models.contacts import ContactPerson
from models.customers import Customer
from models.db import db, now_utc
from models.outbox import MailStatus, OutboundEmail
from models.services import notifications
from tests import factories
from tests.processes import SilentServer
from tests.mailers.conftest import (
    add_contact,
    email_log,
    flask_cli,
    outbox_row,
    outbox_rows,
    queued_ids,
    resend_form_present,
    scheduled_count,
    scheduled_times,
    sleep_until_retries_are_due,
    wait_for,
)


def factories_owner(staff_client):
    """The staff member behind a logged-in client, as a session object for services."""
    from models.staff import StaffUser

    return db.session.get(StaffUser, staff_client.user.id)


def only(items):
    assert len(items) == 1, items
    return items[0]


def status_counts(app) -> dict[MailStatus, int]:
    with app.app_context():
        rows = db.session.execute(select(OutboundEmail.status, func.count()).group_by(OutboundEmail.status)).all()
        db.session.rollback()
        return {status: count for status, count in rows}


def sending_ids(app) -> list[int]:
    with app.app_context():
        ids = db.session.scalars(select(OutboundEmail.id).where(OutboundEmail.status == MailStatus.sending)).all()
        db.session.rollback()
        return list(ids)


def expire_claims(app) -> None:
    """What the claim lease (5 minutes) does in real life, without waiting five minutes."""
    with app.app_context():
        factories.write_directly(
            update(OutboundEmail)
            .where(OutboundEmail.status == MailStatus.sending)
            .values(claimed_at=now_utc() - timedelta(minutes=10))
        )
        db.session.commit()


# --------------------------------------------------------------------------- kill -9


BATCH = 200


def test_a_worker_killed_mid_batch_loses_nothing(mail_app, sink, worker_processes):
    customer = factories.customer(email="anna@example.test", language="en")
    add_contact(mail_app, customer.id, "bill@example.test", account=True)
    with mail_app.app_context():
        record = db.session.get(Customer, customer.id)
        for n in range(BATCH):
            notifications.send_account_notice(None, record, "shipped", f"parcel {n}")
        db.session.commit()
    assert len(queued_ids(mail_app)) == BATCH
    sink.delay = 0.005  # a little SMTP latency, so a kill lands mid-batch

    kills = []
    started = time.monotonic()
    for round_, kill_at in enumerate((BATCH // 5, BATCH // 2), start=1):
        worker = worker_processes.start()
        wait_for(lambda: sink.count() >= kill_at or worker.poll() is not None, 60,
                 message=f"{kill_at} messages at the sink")
        assert worker.poll() is None, worker_processes.logs()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        arrived = sink.count()
        earlier = {row_id for k in kills for row_id in k["sending"]}
        stuck = [row_id for row_id in sending_ids(mail_app) if row_id not in earlier]
        kills.append({"round": round_, "arrived": arrived, "sending": stuck})
        assert arrived < BATCH, "the worker finished before it was killed: the test proved nothing"
        # one job at a time: at most the rest of the batch it was working on
        assert len(stuck) <= mail_queue.BATCH_SIZE
        expire_claims(mail_app)
        if round_ == 1:
            # The operator's repair command puts back what has no waiting job: the row the
            # killed worker was sending. Rows whose jobs still wait are not queued twice.
            result = flask_cli(mail_app, "outbox", "flush")
            assert result.returncode == 0, result.stderr
            assert result.stdout.strip().endswith("e-mails put on the queue.")
            not_sent = BATCH - status_counts(mail_app).get(MailStatus.sent, 0)
            queued = queued_ids(mail_app)
            assert len(queued) == len(set(queued)) == not_sent, (len(queued), len(set(queued)), not_sent)

    last = worker_processes.start()  # also flushes on start, and every second
    wait_for(lambda: status_counts(mail_app) == {MailStatus.sent: BATCH} or last.poll() is not None, 60,
             interval=0.2, message="every row sent")
    assert last.poll() is None, worker_processes.logs()
    last.send_signal(signal.SIGTERM)  # warm shutdown
    last.wait(timeout=20)

    rows = outbox_rows(mail_app)
    assert [r.status for r in rows] == [MailStatus.sent] * BATCH
    received = Counter(m.message_id for m in sink.received())
    assert len({r.message_id for r in rows}) == BATCH  # one Message-ID per row
    with mail_app.app_context():  # and one per contact person's own copy of it
        contact_id = db.session.scalar(select(ContactPerson.id).where(ContactPerson.customer_id == customer.id))
        copies = {messages.message_id(r.id, contact_id): r for r in rows}
    by_message_id = {**{r.message_id: r for r in rows}, **copies}
    assert len(by_message_id) == 2 * BATCH
    assert set(received) == set(by_message_id), "a row without its message at the sink, or a stranger"
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    stuck_at_kill = {row_id for k in kills for row_id in k["sending"]}
    print(f"\nkill -9 test ({time.monotonic() - started:.1f}s): {kills}; {sum(received.values())} messages "
          f"for {BATCH} rows; duplicates: {duplicates or 'none'}")
    assert all(n == 2 for n in duplicates.values())
    # at most the rows accepted but not yet recorded, per killed worker...
    assert len({by_message_id[mid].id for mid in duplicates}) <= len(kills) * jobs.MAX_UNRECORDED
    for mid in duplicates:  # ...and only rows its batch still held when it died
        assert by_message_id[mid].id in stuck_at_kill
    for message in sink.received():
        row = by_message_id[message.message_id]
        assert message.rcpt_tos == (["bill@example.test"] if message.message_id in copies else ["anna@example.test"])
        assert row.context["message"] in message.text


def test_a_killed_worker_leaves_no_database_session_behind(mail_app, sink, worker_processes):
    """Its open transaction, and the row locks in it, end with it: no process outlives it
    with a copy of its database connection (RQ's scheduler is a thread of the worker)."""
    if not mail_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite has no server-side session to leave behind")
    customer = factories.customer(email="anna@example.test", language="en")
    with mail_app.app_context():
        record = db.session.get(Customer, customer.id)
        for n in range(50):
            notifications.send_account_notice(None, record, "shipped", f"parcel {n}")
        db.session.commit()
    sink.delay = 0.005

    def sessions() -> int:
        with mail_app.app_context():
            count = db.session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'killed-worker'"))
            db.session.rollback()
            return count

    worker = worker_processes.start(PGAPPNAME="killed-worker")  # libpq names its sessions so
    wait_for(lambda: sink.count() >= 5 or worker.poll() is not None, 60, message="the worker sending")
    assert worker.poll() is None, worker_processes.logs()
    assert sessions() >= 1
    os.kill(worker.pid, signal.SIGKILL)  # the worker only, not its process group
    worker.wait(timeout=10)
    wait_for(lambda: sessions() == 0, 5, message="the killed worker's database sessions to end")


# --------------------------------------------------------------------------- Redis down


def test_with_redis_down_staff_can_still_send_and_nothing_is_lost(mail_app, sink, own_redis, owner_client, run_worker):
    customer = factories.customer(email="anna@example.test", language="en")
    invoices = [factories.invoice(customer) for _ in range(5)]
    own_redis.stop()

    for invoice in invoices:
        started = time.monotonic()
        response = owner_client.post(f"/admin/invoices/{invoice.id}/send")
        assert response.status_code == 302
        assert time.monotonic() - started < 5
    page = owner_client.get(f"/admin/invoices/{invoices[-1].id}")
    assert b"The e-mail is on its way." in page.data
    rows = outbox_rows(mail_app)
    assert [(r.status, r.attempts) for r in rows] == [(MailStatus.queued, 0)] * 5

    own_redis.start()  # same port, empty: the jobs written while it was down are gone
    assert queued_ids(mail_app) == []
    result = flask_cli(mail_app, "outbox", "flush")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5 e-mails put on the queue."
    run_worker()

    assert [r.status for r in outbox_rows(mail_app)] == [MailStatus.sent] * 5
    assert sorted(m.subject for m in sink.received()) == sorted(
        f"Invoice {inv.number} from My business" for inv in invoices)


def test_with_a_redis_that_never_answers_staff_wait_a_second_at_most(mail_app, sink, owner_client, run_worker):
    """A hung Redis (or a firewall that drops the packets) accepts the connection and says
    nothing: sending waited the queue client's 5 s read timeout per request."""
    customer = factories.customer(email="anna@example.test", language="en")
    invoice = factories.invoice(customer)
    with SilentServer() as server:
        mail_app.config["REDIS_URL"] = f"redis://127.0.0.1:{server.port}/0"  # restored by mail_app
        mail_app.extensions.pop("dossier_redis", None)
        started = time.monotonic()
        response = owner_client.post(f"/admin/invoices/{invoice.id}/send")
        elapsed = time.monotonic() - started
        for client in mail_app.extensions.pop("dossier_redis", {}).values():
            client.close()
    assert response.status_code == 302
    assert server.accepted, "the request never reached the silent server"
    assert elapsed < 3, elapsed
    assert [(r.status, r.attempts) for r in outbox_rows(mail_app)] == [(MailStatus.queued, 0)]


# --------------------------------------------------------------------------- SMTP down


def test_with_the_smtp_server_down_the_row_is_retried_and_then_delivered(mail_app, sink, run_worker, owner_client):
    # restored by mail_app; long enough that the checks before the retry is due never race it
    mail_app.config["MAIL_RETRY_DELAYS"] = [3]
    customer = factories.customer(email="anna@example.test")
    invoice = factories.invoice(customer)
    sink.stop()
    owner_client.post(f"/admin/invoices/{invoice.id}/send")
    run_worker()

    row = only(outbox_rows(mail_app))
    assert (row.status, row.attempts) == (MailStatus.queued, 1)
    assert "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at is not None
    assert scheduled_count(mail_app) == 1  # the retry waits in RQ's scheduled registry
    logged = only(email_log(owner_client, customer.id))
    assert "queued" in logged["Status"] and "ConnectionRefusedError" in logged["Status"]

    sink.start()
    run_worker(with_scheduler=True)  # not due yet: the retry waits its delay
    assert outbox_row(mail_app, row.id).status == MailStatus.queued
    assert sink.count() == 0 and scheduled_count(mail_app) == 1
    sleep_until_retries_are_due(mail_app)
    run_worker(with_scheduler=True)

    row = outbox_row(mail_app, row.id)
    assert (row.status, row.attempts, row.last_error) == (MailStatus.sent, 2, None)
    assert only(sink.received()).message_id == row.message_id


def test_a_retry_is_not_released_before_the_row_is_due(mail_app, sink, run_worker, owner_client):
    """RQ schedules in whole seconds; a retry it released early would be skipped by claim()
    and then wait for the next flush (30 s by default) instead of its delay."""
    mail_app.config["MAIL_RETRY_DELAYS"] = [2]  # restored by mail_app
    customer = factories.customer(email="anna@example.test")
    invoice = factories.invoice(customer)
    sink.stop()
    wait_for(lambda: 0.3 <= time.time() % 1 <= 0.5, 2, interval=0.01, message="mid-second")
    owner_client.post(f"/admin/invoices/{invoice.id}/send")
    run_worker()  # fails at about x.4 s: the row is due at about (x + 2).4 s
    row = only(outbox_rows(mail_app))
    due = row.next_attempt_at.timestamp()
    assert due % 1 > 0.2, "the failure did not land mid-second"
    time.sleep(max(0.0, int(due) + 0.05 - time.time()))  # a moment after the whole second before
    assert time.time() < due
    run_worker(with_scheduler=True)
    assert outbox_row(mail_app, row.id).status == MailStatus.queued
    assert scheduled_count(mail_app) + len(queued_ids(mail_app)) == 1, "the retry job was used up early"
    assert min(scheduled_times(mail_app)) >= due

    sink.start()
    sleep_until_retries_are_due(mail_app)
    run_worker(with_scheduler=True)
    assert outbox_row(mail_app, row.id).status == MailStatus.sent
    assert sink.count() == 1


def test_temporary_failures_give_up_after_the_last_delay(mail_app, sink, run_worker, owner_client):
    mail_app.config["MAIL_RETRY_DELAYS"] = [1]  # restored by mail_app
    customer = factories.customer(email="anna@example.test")
    sink.refuse_all = "451 4.7.1 Greylisted (test)"
    owner_client.post(f"/admin/invoices/{factories.invoice(customer).id}/send")
    run_worker()
    assert only(outbox_rows(mail_app)).status == MailStatus.queued
    sleep_until_retries_are_due(mail_app)
    run_worker(with_scheduler=True)

    row = only(outbox_rows(mail_app))
    assert (row.status, row.attempts) == (MailStatus.failed, 2)
    assert row.last_error.startswith("gave up after 2 attempts") and "451 4.7.1 Greylisted (test)" in row.last_error
    assert sink.attempts == []


# --------------------------------------------------------------------------- 5xx, resend


@pytest.mark.parametrize(
    ("stage", "answer"),
    [("rcpt", "550 5.7.1 Relaying denied (test)"), ("data", "554 5.6.0 Message rejected (test)")],
)
def test_a_permanent_failure_fails_the_row_and_resend_delivers_it(
    mail_app, sink, run_worker, owner_client, stage, answer
):
    customer = factories.customer(email="anna@example.test")
    add_contact(mail_app, customer.id, "bill@example.test")
    if stage == "rcpt":
        sink.refuse_all = answer
    else:
        sink.data_reply = answer
    owner_client.post(f"/admin/invoices/{factories.invoice(customer).id}/send")
    run_worker()

    row = only(outbox_rows(mail_app))
    assert (row.status, row.attempts) == (MailStatus.failed, 1)
    assert answer in row.last_error
    assert scheduled_count(mail_app) == 0 and queued_ids(mail_app) == []  # no retry
    assert sink.count() == 0
    logged = only(email_log(owner_client, customer.id))
    assert logged["Status"].startswith("failed") and answer in logged["Status"]
    assert resend_form_present(owner_client, customer.id, row.id)

    sink.accept_everything()
    response = owner_client.post(f"/admin/customers/{customer.id}/emails/{row.id}/resend")
    assert response.status_code == 302
    assert outbox_row(mail_app, row.id).status == MailStatus.queued
    assert queued_ids(mail_app) == [row.id]
    run_worker()

    row = outbox_row(mail_app, row.id)
    assert (row.status, row.attempts, row.last_error) == (MailStatus.sent, 2, None)
    mail, copy = sink.received()
    assert mail.message_id == row.message_id
    assert (mail.rcpt_tos, copy.rcpt_tos) == (["anna@example.test"], ["bill@example.test"])
    logged = only(email_log(owner_client, customer.id))
    assert logged["Status"] == "sent" and not resend_form_present(owner_client, customer.id, row.id)
    if stage == "data":  # the refused attempt carried the same Message-ID
        assert {m.message_id for m in sink.attempts} == {row.message_id, copy.message_id}


def test_a_flush_does_not_queue_a_row_twice(mail_app, sink, run_worker, owner_client):
    """Rows whose job still waits are skipped; only rows without a waiting job are queued."""
    from mailers.worker import flush
    from models.documents import Document

    customer = factories.customer(name="Flush Fiona")
    invoice = factories.invoice(customer)
    with mail_app.app_context():
        email = notifications.send_invoice(factories_owner(owner_client), db.session.get(Document, invoice.id))
        db.session.commit()  # the commit hook queues the row once
        row_id = email.id
        assert queued_ids(mail_app) == [row_id]
        assert flush() == 0 and flush() == 0  # its job is waiting: nothing added
        assert queued_ids(mail_app) == [row_id]
    run_worker()
    assert outbox_row(mail_app, row_id).status.value == "sent"
    assert len(sink.messages) == 1
