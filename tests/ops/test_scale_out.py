"""Two web servers and two mail workers on one PostgreSQL and one Redis, as real processes on
loopback: the layout `compose.yaml` runs with `--scale worker=2` and a second web service,
tested here without containers.

- a staff session made on one server works on the other (and a logout on one ends it on both);
- the contact maximum (10 per customer) holds under adds spread over both servers;
- 1,000 e-mails queued through both servers reach the SMTP server while one worker is killed
  (SIGKILL) mid-run: every one arrives, each with its own Message-ID; the only second copies
  are of the few the killed worker had handed to the SMTP server but not yet recorded
  (mailers/jobs.py MAX_UNRECORDED), and they carry the same Message-ID;
- a web server killed (SIGKILL, its whole process group) mid-load loses no write it had
  answered: every note answered with its redirect is in the database, once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from itertools import cycle
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from mailers import jobs
from models.contacts import ContactPerson
from models.customers import Note
from models.db import db, now_utc
from models.outbox import MailStatus, OutboundEmail
from tests import factories
from tests.contacts.conftest import new_data
from tests.ops.conftest import Browser, create_database, factories_on, migrated_app, needs_postgres, server_env
from tests.processes import PROJECT_ROOT, Gunicorn, wait_for

pytestmark = needs_postgres
FLASK = Path(sys.executable).with_name("flask")
EMAILS = 1000


@pytest.fixture(scope="module")
def installation(cluster, redis_server, smtp_sink, tmp_path_factory):
    """One database, Redis and SMTP server; two gunicorn servers (2 workers each)."""
    url = create_database(cluster, "scale_out")
    app = migrated_app(url, REDIS_URL=redis_server.url)
    env = server_env(url, redis_server.url, smtp_sink.port)
    logs = tmp_path_factory.mktemp("scale-out")
    servers = []
    try:
        for name in ("a", "b"):
            servers.append(Gunicorn(env, logs / f"gunicorn-{name}.log"))
        yield app, env, servers, logs
    finally:
        for server in servers:
            server.stop()
        with app.app_context():
            db.engine.dispose()
    for server in servers:
        assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]


@pytest.fixture
def records(app, installation):
    """The factories write into this installation's database during the test."""
    with factories_on(installation[0], app):
        yield installation


class Workers:
    """`flask --app wsgi worker` processes, stopped by PID (their own process groups)."""

    def __init__(self, env: dict, logs: Path):
        self.env, self.logs = env, logs
        self.started: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = self.logs / f"worker-{len(self.started) + 1}.log"
        process = subprocess.Popen([str(FLASK), "--app", "wsgi", "worker"], cwd=PROJECT_ROOT, env=self.env,
                                   stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(process)
        return process

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(self.logs.glob("worker-*.log")))

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # warm shutdown
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the group this test started
                process.wait(timeout=10)


def test_a_staff_session_made_on_one_server_works_on_the_other(records):
    app, _, (a, b), _ = records
    factories.staff(role="owner", email="olga@example.test", name="Olga Owner")
    customer = factories.customer(name="Acme Trading", email="billing@acme.example", language="en")
    browser = Browser().log_in(a.port, "olga@example.test")  # on server A

    status, _, html = browser.get(b.port, "/admin/customers")  # server B knows the session
    assert status == 200 and "Olga Owner" in html and "Acme Trading" in html
    status, location, _ = browser.post(b.port, f"/admin/customers/{customer.id}/notes",
                                       {"body": "Written through server B", "back": "overview"})
    assert status == 302 and location.endswith(f"/admin/customers/{customer.id}"), (status, location)
    status, _, html = browser.get(a.port, f"/admin/customers/{customer.id}")
    assert status == 200 and "Written through server B" in html

    status, _, _ = browser.post(b.port, "/admin/logout", {})  # logging out on B ends it on A too
    assert status == 302
    stale = Browser()
    stale.cookie, stale.token = browser.cookie, browser.token
    status, location, _ = stale.get(a.port, "/admin/customers")
    assert status == 302 and "/admin/login" in location


def test_the_contact_maximum_holds_under_adds_spread_over_both_servers(records):
    app, _, (a, b), _ = records
    customer = factories.customer(name="Bolt Supplies", email="office@bolt.example", language="en")
    racers = 24
    browsers = []
    for n in range(racers):
        factories.staff(role="employee", view_all=True, email=f"racer{n}@example.test", name=f"Racer {n}")
        browsers.append(Browser().log_in((a, b)[n % 2].port, f"racer{n}@example.test"))
    start = threading.Barrier(racers)
    answers: list[tuple[int, str]] = [(-1, "")] * racers

    def add(n: int) -> None:
        start.wait(timeout=30)
        status, _, html = browsers[n].post((b, a)[n % 2].port, f"/admin/customers/{customer.id}/contacts",
                                           new_data(name=f"Contact {n:02d}", email=f"contact{n:02d}@bolt.example"))
        answers[n] = (status, html)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {200, 302, 422}, statuses
    assert statuses[200] + statuses[302] == 10, statuses
    assert statuses[422] == racers - 10
    assert all("This customer has 10 contact persons, the maximum." in html for s, html in answers if s == 422)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(ContactPerson.customer_id == customer.id)) == 10


def _status_counts(app) -> dict:
    with app.app_context():
        rows = db.session.execute(select(OutboundEmail.status, func.count()).group_by(OutboundEmail.status)).all()
        db.session.rollback()
        return {status: count for status, count in rows}


def test_a_thousand_emails_from_both_servers_arrive_while_a_worker_is_killed(records, smtp_sink):
    app, env, (a, b), logs = records
    factories.staff(role="owner", email="mailer@example.test", name="Mia Mailer")
    customers = [factories.customer(email=f"debtor{n}@example.test", language="en") for n in range(20)]
    browsers = [Browser().log_in(server.port, "mailer@example.test") for server in (a, b)]
    smtp_sink.messages.clear()
    smtp_sink.delay = 0.01  # SMTP latency: the kill most likely lands while a message is being sent
    workers = Workers(env, logs)
    first, second = workers.start(), workers.start()
    try:
        answered: list[int] = []
        plan = iter(range(EMAILS))
        lock = threading.Lock()

        def send(k: int) -> None:
            browser, server = browsers[k % 2], (a, b)[k % 2]  # half the e-mails through each server
            while True:
                with lock:
                    n = next(plan, None)
                if n is None:
                    return
                customer = customers[n % len(customers)]
                status, location, _ = browser.post(server.port, f"/admin/customers/{customer.id}/notice",
                                                   {"notice": "shipped", "message": f"Parcel {n:04d} is on its way."})
                answered.append(status if location.endswith("/emails") else -status)

        senders = [threading.Thread(target=send, args=(k,)) for k in range(6)]
        for thread in senders:
            thread.start()
        wait_for(lambda: smtp_sink.count() >= 400 or first.poll() is not None, 120, message="400 e-mails at the sink")
        assert first.poll() is None and second.poll() is None, workers.output()
        os.kill(first.pid, signal.SIGKILL)  # one worker dies mid-run (only the worker, by its PID)
        first.wait(timeout=10)
        killed_at, arrived_at_kill = now_utc(), smtp_sink.count()
        for thread in senders:
            thread.join(timeout=120)
        assert answered == [302] * EMAILS, Counter(answered)
        assert arrived_at_kill < EMAILS, "everything was sent before the kill: the test proved nothing"

        # The survivor sends everything but what the dead worker had claimed: those rows stay
        # `sending` (the same ones, poll after poll) until the claim lapses.
        seen: list[frozenset] = []

        def settled() -> bool:
            with app.app_context():
                queued = db.session.scalar(select(func.count()).where(OutboundEmail.status == MailStatus.queued))
                sending = frozenset(db.session.scalars(
                    select(OutboundEmail.id).where(OutboundEmail.status == MailStatus.sending)))
                db.session.rollback()
            seen.append(sending if not queued else frozenset({-1}))
            return len(seen) >= 4 and len(set(seen[-4:])) == 1 and -1 not in seen[-1]

        # A deadline, not a speed check: on a loaded 2-core machine 1,000 messages took over 120 s.
        wait_for(settled, 300, 0.5, "the surviving worker to send the rest")
        held = set(seen[-1])  # what the killed worker had claimed and not finished
        # The lease (5 minutes) runs out, as time would do it; the survivor's periodic flush
        # then queues those rows again.
        with app.app_context():
            db.session.execute(update(OutboundEmail).where(OutboundEmail.id.in_(held))
                               .values(claimed_at=killed_at - timedelta(minutes=10)))
            db.session.commit()
        wait_for(lambda: _status_counts(app) == {MailStatus.sent: EMAILS} or second.poll() is not None, 60, 0.2,
                 "every e-mail sent")
        assert second.poll() is None, workers.output()
    finally:
        workers.stop()
        smtp_sink.delay = 0

    with app.app_context():
        rows = db.session.execute(select(OutboundEmail.id, OutboundEmail.message_id)).all()
    by_message_id = {message_id: row_id for row_id, message_id in rows}
    assert len(rows) == EMAILS and len(by_message_id) == EMAILS  # one Message-ID per e-mail
    received = Counter(m.message_id for m in smtp_sink.received())
    assert set(received) == set(by_message_id)  # every one arrived, and nothing else did
    seconds = {mid: n for mid, n in received.items() if n > 1}
    print(f"\n{EMAILS} e-mails; {arrived_at_kill} at the sink when a worker was killed; it held {len(held)} "
          f"rows; second copies: {len(seconds)} (same Message-ID)")
    assert all(n == 2 for n in seconds.values())
    assert len(seconds) <= jobs.MAX_UNRECORDED  # at most what the killed worker had not recorded...
    assert {by_message_id[mid] for mid in seconds} <= held  # ...of the rows it held when it died
    texts = sorted(m.text.split("Parcel ", 1)[1][:4] for m in smtp_sink.received() if received[m.message_id] == 1)
    assert len(set(texts)) == EMAILS - len(seconds)


def test_a_web_server_killed_mid_load_loses_no_write_it_answered(records, tmp_path):
    app, env, (_, b), _ = records
    victim = Gunicorn(env, tmp_path / "gunicorn-victim.log")  # a third server, killed by this test
    try:
        factories.staff(role="owner", email="writer@example.test", name="Wes Writer")
        customer = factories.customer(name="Cargo Ltd", email="office@cargo.example", language="en")
        servers = cycle([victim, b])
        browsers = {server.port: Browser().log_in(server.port, "writer@example.test") for server in (victim, b)}
        answered: list[tuple[str, int, float]] = []  # (note, port, when)
        failed: list[tuple[str, int, str]] = []
        stop = threading.Event()
        lock = threading.Lock()

        def write(k: int) -> None:
            n = 0
            while not stop.is_set():
                with lock:
                    server = next(servers)
                note = f"Note {k}-{n} through {server.port}"
                n += 1
                try:
                    status, location, _ = browsers[server.port].post(
                        server.port, f"/admin/customers/{customer.id}/notes", {"body": note, "back": "overview"})
                except OSError as error:  # refused, reset mid-answer: no answer, no promise
                    failed.append((note, server.port, repr(error)))
                    continue
                if status == 302 and location.endswith(f"/admin/customers/{customer.id}"):
                    answered.append((note, server.port, time.monotonic()))
                else:
                    failed.append((note, server.port, f"{status} {location}"))

        threads = [threading.Thread(target=write, args=(k,)) for k in range(6)]
        for thread in threads:
            thread.start()
        wait_for(lambda: sum(1 for _, port, _ in answered if port == victim.port) >= 40, 60,
                 message="writes answered by the victim")
        os.killpg(victim.process.pid, signal.SIGKILL)  # the server and its workers: the group this test started
        killed = time.monotonic()
        wait_for(lambda: sum(1 for _, port, t in answered if port == b.port and t > killed) >= 40, 60,
                 message="writes answered by the other server after the kill")
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        victim.stop()

    assert all(port == victim.port for _, port, _ in failed), failed[:5]  # only the dead server failed
    assert any(port == victim.port for _, port, _ in failed)  # it was killed under load
    with app.app_context():
        saved = Counter(db.session.scalars(select(Note.body).where(Note.customer_id == customer.id)))
    lost = [note for note, _, _ in answered if saved[note] != 1]
    assert not lost, lost[:5]
    print(f"\n{len(answered)} notes answered ({sum(1 for _, p, _ in answered if p == victim.port)} by the "
          f"killed server), {len(failed)} requests to it failed, none of the answered ones lost")
