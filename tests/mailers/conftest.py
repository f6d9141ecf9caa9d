"""Fixtures for the e-mail tests: a real SMTP sink, a real Redis, real RQ workers.

- `sink`: an aiosmtpd server on 127.0.0.1 that records every message (envelope and parsed
  headers) and can answer 4xx/5xx on demand, for everyone or for particular recipients.
  It can be stopped and started again on the same port.
- `mail_app`: the session app pointed at the sink and at a Redis of the session's own
  (flushed before and after each test), with short retry delays.
- `run_worker`: an in-process RQ SimpleWorker in burst mode, as `flask worker --burst` runs.
- `worker_processes`: real `flask --app wsgi worker` subprocess on the test database.
- `own_redis`: a redis-server of our own on a free port, for tests that stop Redis.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from email.header import decode_header, make_header
from email.utils import getaddresses
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from bs4 import BeautifulSoup
from rq import SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from mailers import queue as mail_queue
from mailers import smtp
from models.contacts import ContactPerson
from models.db import db
from models.outbox import OutboundEmail
from models.services.settings import get_settings
from tests.conftest import TEST_CONFIG
from tests.processes import free_port, wait_for  # noqa: F401 (the mail tests import them from here)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).with_name("flask")
# By default a redis-server of the session's own on a free port: a fixed database number on
# the shared server was flushed under us by a second run of these tests. MAIL_TEST_REDIS_URL
# (e.g. redis://127.0.0.1:6379/13) uses an existing server instead; either way the database
# is flushed before and after each test.
TEST_REDIS_URL_ENV = "MAIL_TEST_REDIS_URL"
RETRY_DELAYS = [1, 1, 2]




# --------------------------------------------------------------------------- SMTP sink


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: email.message.EmailMessage = field(repr=False)

    @property
    def headers(self) -> list[tuple[str, str]]:
        return list(self.message.items())

    def header(self, name: str) -> str | None:
        value = self.message.get(name)
        return None if value is None else str(value)

    def addresses(self, name: str) -> list[str]:
        value = self.message.get(name)
        if value is None:
            return []
        return [a.addr_spec for a in value.addresses]

    @property
    def to(self) -> list[str]:
        return self.addresses("To")

    @property
    def cc(self) -> list[str]:
        return self.addresses("Cc")

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"]).strip()

    @property
    def sender(self) -> tuple[str, str]:
        """The From header's one (display name, address), decoded as RFC 2047 says: the
        header must parse as exactly one address, and adjacent encoded-words join without
        a space (Python's structured-header parser inserts one; mail clients do not)."""
        assert len(self.message.get_all("From")) == 1
        assert len(self.message["From"].addresses) == 1, self.message["From"].addresses
        raw = email.message_from_bytes(self.raw)["From"]  # compat32: the header as sent
        pairs = getaddresses([raw])
        assert len(pairs) == 1, pairs
        name, address = pairs[0]
        return str(make_header(decode_header(name))), address

    @property
    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(preferencelist=("html",)).get_content()


class _Handler:
    def __init__(self, sink: Sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        with self.sink.lock:
            self.sink.connections += 1  # one EHLO per connection (no STARTTLS here)
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        reply = self.sink.refuse.get(address.lower()) or self.sink.refuse_all
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        data = envelope.original_content or envelope.content
        record = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            raw=data,
            message=email.message_from_bytes(data, policy=email.policy.default),
        )
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        with self.sink.lock:
            self.sink.attempts.append(record)
            reply = self.sink.data_reply
            if not reply:
                self.sink.messages.append(record)
        return reply or "250 Message accepted for delivery"


class Sink:
    """A recording SMTP server. `refuse` maps an address (lower case) to an RCPT answer,
    `refuse_all` answers every RCPT, `data_reply` answers DATA (the message is then recorded
    in `attempts` only); `messages` holds what was accepted, `connections` counts the
    connections clients opened. Keyword arguments go to aiosmtpd's SMTP server (e.g. its
    idle `timeout`)."""

    def __init__(self, **smtp_parameters):
        self.smtp_parameters = smtp_parameters
        self.connections = 0
        self.port = free_port()
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.attempts: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.refuse_all: str | None = None
        self.data_reply: str | None = None
        self.delay = 0.0
        self.controller: Controller | None = None

    def start(self) -> None:
        assert self.controller is None
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     **self.smtp_parameters)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def accept_everything(self) -> None:
        self.refuse.clear()
        self.refuse_all = None
        self.data_reply = None

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


@pytest.fixture
def sink():
    server = Sink()
    server.start()
    yield server
    server.stop()


# --------------------------------------------------------------------------- app and Redis


@pytest.fixture(scope="session")
def test_redis_url(tmp_path_factory):
    url = os.environ.get(TEST_REDIS_URL_ENV)
    if url:
        yield url
        return
    server = OwnRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def mail_app(app, sink, test_redis_url):
    """The session app sending to the sink and queueing on the test Redis database."""
    keys = ("MAIL_SERVER", "MAIL_PORT", "MAIL_TIMEOUT", "REDIS_URL", "MAIL_RETRY_DELAYS")
    saved = {key: app.config.get(key) for key in keys}
    flush = redis.Redis.from_url(test_redis_url)
    flush.flushdb()
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port, MAIL_TIMEOUT=5,
        REDIS_URL=test_redis_url, MAIL_RETRY_DELAYS=list(RETRY_DELAYS),
    )
    app.extensions.pop("dossier_redis", None)
    smtp.close()
    yield app
    smtp.close()
    for client in app.extensions.pop("dossier_redis", {}).values():
        client.close()
    app.config.update(saved)
    flush.flushdb()
    flush.close()


def redis_connection(app) -> redis.Redis:
    with app.app_context():
        return mail_queue.connection()


def queued_ids(app) -> list[int]:
    """The outbox ids carried by the jobs waiting on the mail queue, in order."""
    with app.app_context():
        return [email_id for job in mail_queue.mail_queue().get_jobs() for email_id in job.args[0]]


def scheduled_count(app) -> int:
    return ScheduledJobRegistry(mail_queue.QUEUE_NAME, connection=redis_connection(app)).count


def scheduled_times(app) -> list[float]:
    """When RQ's scheduler will release each scheduled job (Unix time)."""
    registry = ScheduledJobRegistry(mail_queue.QUEUE_NAME, connection=redis_connection(app))
    return [score for _, score in registry.connection.zrange(registry.key, 0, -1, withscores=True)]


def sleep_until_retries_are_due(app, margin: float = 0.05) -> None:
    times = scheduled_times(app)
    assert times, "no retry is scheduled"
    time.sleep(max(0.0, max(times) + margin - time.time()))


@pytest.fixture
def run_worker(mail_app):
    """Run an RQ SimpleWorker in this process until the queue is empty (burst).

    with_scheduler=True first moves due scheduled jobs (retries) onto the queue. A job that
    raised is a bug in the job: the call fails with its traceback.
    """

    def run(with_scheduler: bool = False) -> None:
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        with mail_app.app_context():
            connection = mail_queue.connection()
            try:
                SimpleWorker([mail_queue.QUEUE_NAME], connection=connection, serializer=mail_queue.SERIALIZER).work(
                    burst=True, with_scheduler=with_scheduler, logging_level="WARNING"
                )
            finally:  # RQ installs its own; give Ctrl-C back to pytest
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)
            failed = FailedJobRegistry(mail_queue.QUEUE_NAME, connection=connection, serializer=mail_queue.SERIALIZER)
            problems = failed.get_job_ids()
            if problems:
                details = []
                for job_id in problems:
                    result = Job.fetch(job_id, connection=connection, serializer=mail_queue.SERIALIZER).latest_result()
                    details.append(result.exc_string if result else job_id)
                raise AssertionError("jobs raised:\n" + "\n".join(details))

    return run


# --------------------------------------------------------------------------- subprocesses


def subprocess_env(app, **extra) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FLASK_DEBUG", None)
    env.update(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY=TEST_CONFIG["SECRET_KEY"],
        BASE_URL=app.config["BASE_URL"],
        REDIS_URL=app.config["REDIS_URL"],
        RATELIMIT_STORAGE_URI="memory://",
        MAIL_SERVER=str(app.config["MAIL_SERVER"]),
        MAIL_PORT=str(app.config["MAIL_PORT"]),
        MAIL_TIMEOUT=str(app.config["MAIL_TIMEOUT"]),
        OUTBOX_FLUSH_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class WorkerProcesses:
    """`flask --app wsgi worker` subprocesses, each in a session of its own so teardown can
    also end what the worker forked (RQ's scheduler runs in a forked child)."""

    def __init__(self, app, directory: Path):
        self.app, self.directory = app, directory
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        log = self.directory / f"worker-{len(self.started) + 1}.log"
        process = subprocess.Popen(
            [str(FLASK), "--app", "wsgi", "worker", *args],
            cwd=PROJECT_ROOT, env=subprocess_env(self.app, **env),
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.started.append((process, log))
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for _, log in self.started)

    def stop_all(self) -> None:
        for process, _ in self.started:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the group this test started
            except ProcessLookupError:
                pass
            process.wait(timeout=10)


@pytest.fixture
def worker_processes(mail_app, tmp_path):
    workers = WorkerProcesses(mail_app, tmp_path)
    yield workers
    workers.stop_all()


def flask_cli(app, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run `flask --app wsgi …` as the operator would, against the test database and Redis."""
    return subprocess.run(
        [str(FLASK), "--app", "wsgi", *args], cwd=PROJECT_ROOT, env=subprocess_env(app),
        capture_output=True, text=True, timeout=timeout,
    )


class OwnRedis:
    """A redis-server of our own, on a free port, that a test may stop and start again."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_for(lambda: _pings(client), 10, message="redis-server to start")
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # by its PID: only the server this fixture started
            self.process.wait(timeout=10)
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


@pytest.fixture
def own_redis(mail_app, tmp_path):
    server = OwnRedis(tmp_path)
    server.start()
    mail_app.config["REDIS_URL"] = server.url  # restored by mail_app
    mail_app.extensions.pop("dossier_redis", None)
    yield server
    for client in mail_app.extensions.pop("dossier_redis", {}).values():
        client.close()
    server.stop()


# --------------------------------------------------------------------------- data helpers


def add_contact(app, customer_id: int, email_address: str, *, invoice: bool = True,
                account: bool = False, name: str = "Contact") -> int:
    with app.app_context():
        contact = ContactPerson(customer_id=customer_id, name=name, email=email_address,
                                invoice_emails=invoice, account_emails=account)
        db.session.add(contact)
        db.session.commit()
        return contact.id


def set_business(app, **values) -> None:
    with app.app_context():
        settings = get_settings(for_update=True)
        for key, value in values.items():
            setattr(settings, key, value)
        db.session.commit()


def outbox_row(app, email_id: int) -> OutboundEmail:
    with app.app_context():
        row = db.session.get(OutboundEmail, email_id)
        db.session.expunge(row)
        return row


def outbox_rows(app) -> list[OutboundEmail]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(OutboundEmail).order_by(OutboundEmail.id)))
        db.session.expunge_all()
        return rows


def table_rows(table) -> list[dict[str, str]]:
    """A <table> as dicts keyed by its header texts."""
    headers = [th.get_text(" ", strip=True) for th in table.find("thead").find_all("th")]
    return [
        dict(zip(headers, (td.get_text(" ", strip=True) for td in tr.find_all("td")), strict=True))
        for tr in table.find("tbody").find_all("tr")
    ]


def email_log(staff_client, customer_id: int) -> list[dict[str, str]]:
    soup = staff_client.soup(f"/admin/customers/{customer_id}/emails")
    heading = soup.find("h2", string=lambda s: s and s.strip() == "E-mail log")
    assert heading is not None
    table = heading.find_parent("section").find("table")
    return table_rows(table) if table is not None else []


def latest_emails(staff_client, customer_id: int) -> list[dict[str, str]]:
    soup = staff_client.soup(f"/admin/customers/{customer_id}")
    heading = soup.find("h2", string=lambda s: s and s.strip() == "Latest e-mails")
    assert heading is not None
    table = heading.find_parent("section").find("table")
    return table_rows(table) if table is not None else []


def resend_form_present(staff_client, customer_id: int, email_id: int) -> bool:
    soup: BeautifulSoup = staff_client.soup(f"/admin/customers/{customer_id}/emails")
    return soup.find("form", action=f"/admin/customers/{customer_id}/emails/{email_id}/resend") is not None
