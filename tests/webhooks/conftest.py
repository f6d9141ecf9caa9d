"""Webhook fixtures: a real HTTP receiver on loopback that verifies signatures, the mail
tests' Redis and app (tests/mailers/conftest.py), and an in-process burst worker on both
queues, as `flask worker --burst` runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq import SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry

from mailers import queue as mail_queue
from models.db import db
from models.webhooks import WebhookEndpoint
from tests.mailers.conftest import (  # noqa: F401  (fixtures used here)
    free_port,
    mail_app,
    own_redis,
    sink,
    test_redis_url,
    wait_for,
)

TOLERANCE = 300  # seconds a receiver accepts between the signed time and its clock


def verify(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """What the README tells a receiver to do: any v1 that matches, in constant time, and a
    timestamp within the tolerance."""
    try:
        items = [part.split("=", 1) for part in header.split(",")]
        stamp = int(next(value for key, value in items if key == "t"))
    except (ValueError, StopIteration):
        return False
    if abs((now or time.time()) - stamp) > TOLERANCE:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in items if key == "v1")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    valid: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST, checks its signature with
    `secret`, and answers `status`. It can be stopped and started again on the same port."""

    port: int = field(default_factory=free_port)
    secret: str = ""
    status: int = 200
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        assert self.server is None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(Received(
                    self.path, {k: v for k, v in self.headers.items()}, body,
                    verify(receiver.secret, self.headers.get("Dossier-Signature", ""), body)))
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status < 300 else b"receiver says no")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver():
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hooks_app(mail_app):
    """The mail tests' app (own Redis, flushed) that may post to loopback over http, with
    retries a second apart."""
    keys = ("WEBHOOKS_ALLOW_HTTP", "WEBHOOK_RETRY_DELAYS", "WEBHOOK_TIMEOUT")
    saved = {key: mail_app.config.get(key) for key in keys}
    mail_app.config.update(WEBHOOKS_ALLOW_HTTP=True, WEBHOOK_RETRY_DELAYS=[1, 1], WEBHOOK_TIMEOUT=2)
    yield mail_app
    mail_app.config.update(saved)


def add_endpoint(app, url: str, event_types: list[str] | None = None, active: bool = True) -> WebhookEndpoint:
    with app.app_context():
        from models.services.webhooks import new_secret

        endpoint = WebhookEndpoint(url=url, secret=new_secret(), event_types=event_types or [], active=active)
        db.session.add(endpoint)
        db.session.commit()
        db.session.refresh(endpoint)
        db.session.expunge(endpoint)
        return endpoint


@pytest.fixture
def run_worker(hooks_app):
    """An RQ SimpleWorker on both queues in this process until they are empty (burst);
    with_scheduler first moves due retries onto the queue. A job that raised fails the call."""

    def run(with_scheduler: bool = False) -> None:
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        with hooks_app.app_context():
            connection = mail_queue.connection()
            try:
                SimpleWorker(mail_queue.QUEUE_NAMES, connection=connection, serializer=mail_queue.SERIALIZER).work(
                    burst=True, with_scheduler=with_scheduler, logging_level="WARNING")
            finally:
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)
            problems = []
            for name in mail_queue.QUEUE_NAMES:
                failed = FailedJobRegistry(name, connection=connection, serializer=mail_queue.SERIALIZER)
                for job_id in failed.get_job_ids():
                    result = Job.fetch(job_id, connection=connection, serializer=mail_queue.SERIALIZER).latest_result()
                    problems.append(result.exc_string if result else job_id)
            if problems:
                raise AssertionError("jobs raised:\n" + "\n".join(problems))

    return run
