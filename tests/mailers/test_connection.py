"""The SMTP connection: one for a batch, opened again (once) when the server has closed it,
and a timeout, so a server that stops answering holds a batch up once, not per message.

Real aiosmtpd servers (with their own idle timeout or per-connection limit), a real
listening socket that never answers, a real RQ worker and Redis.
"""

from __future__ import annotations

import socket
import time

import pytest

from models.db import db
from models.documents import Document
from models.outbox import MailStatus
from models.services import notifications
from tests import factories
from tests.mailers.conftest import Sink, outbox_rows, scheduled_count


def queue_invoices(app, count: int) -> list[int]:
    """One invoice mail for each of `count` new customers, in one commit: one job."""
    invoices = [factories.invoice(factories.customer(email=f"c{n}@example.test")) for n in range(count)]
    with app.app_context():
        rows = [notifications.send_invoice(None, db.session.get(Document, inv.id)) for inv in invoices]
        db.session.commit()
        return [r.id for r in rows]


@pytest.fixture
def server(mail_app):
    """Start a sink with aiosmtpd's own settings and send to it (mail_app restores the port)."""
    started: list[Sink] = []

    def start(**smtp_parameters) -> Sink:
        sink = Sink(**smtp_parameters)
        sink.start()
        started.append(sink)
        mail_app.config["MAIL_PORT"] = sink.port
        return sink

    yield start
    for sink in started:
        sink.stop()


def test_a_batch_is_sent_over_one_connection(mail_app, sink, run_worker):
    queue_invoices(mail_app, 5)
    run_worker()
    assert sink.count() == 5
    assert sink.connections == 1


def test_a_kept_connection_the_server_dropped_while_idle_is_opened_again(mail_app, server, run_worker):
    sink = server(timeout=0.5)  # aiosmtpd drops a connection idle for this long
    queue_invoices(mail_app, 1)
    run_worker()
    time.sleep(1)  # the worker keeps its connection; the server drops it meanwhile
    queue_invoices(mail_app, 1)
    run_worker()

    assert [(r.status, r.attempts) for r in outbox_rows(mail_app)] == [(MailStatus.sent, 1)] * 2
    assert sink.count() == 2 and sink.connections == 2


def test_a_server_closing_with_421_after_some_messages_gets_the_rest_on_a_new_connection(mail_app, server,
                                                                                        run_worker):
    sink = server(command_call_limit={"MAIL": 2})  # a third MAIL gets "421 ... too many", then the close
    queue_invoices(mail_app, 5)
    run_worker()

    assert [(r.status, r.attempts) for r in outbox_rows(mail_app)] == [(MailStatus.sent, 1)] * 5
    assert sink.count() == 5 and sink.connections == 3
    assert scheduled_count(mail_app) == 0


def test_a_server_that_never_answers_holds_a_batch_up_for_one_timeout(mail_app, run_worker):
    mail_app.config["MAIL_TIMEOUT"] = 1  # restored by mail_app
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        mail_app.config["MAIL_PORT"] = silent.getsockname()[1]
        queue_invoices(mail_app, 5)
        started = time.monotonic()
        run_worker()
        elapsed = time.monotonic() - started

    rows = outbox_rows(mail_app)
    assert [(r.status, r.attempts) for r in rows] == [(MailStatus.queued, 1)] * 5
    assert all("timed out" in r.last_error for r in rows), [r.last_error for r in rows]
    assert 1 <= elapsed < 3, elapsed  # one timeout for the batch, not one per message (5 s)
    assert scheduled_count(mail_app) == 1  # the same delay for all: one retry job
