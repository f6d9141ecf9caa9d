"""The operator's view: real processes on loopback (gunicorn servers, `flask worker`s), a
PostgreSQL cluster of the tests' own (initdb, on a free port; skipped where PostgreSQL is not
installed), a redis-server of their own and the aiosmtpd sink. Every process is started in a
session of its own and stopped by the PID the test got.

Staff use the servers as a browser does: `Browser` logs in through the login form and sends
each POST with the session's CSRF token; nothing is signed or written behind the servers'
backs except test data made with the factories.
"""

from __future__ import annotations

import http.client
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from flask_migrate import upgrade

from tests import factories
from tests.conftest import TEST_CONFIG
from tests.mailers.conftest import OwnRedis, Sink
from tests.processes import OwnPostgres, postgres_bin
from wsgi import create_app

PG_BIN = postgres_bin()
needs_postgres = pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL's initdb and postgres are not installed")
COOKIE = "dossier_session"  # "__Host-dossier_session" where BASE_URL is https (the tests')
_HX_TOKEN = re.compile(r"""hx-headers='(\{[^']*\})'""")


@pytest.fixture(scope="session")
def cluster():
    server = OwnPostgres(PG_BIN)
    try:
        server.start()
        yield server
    finally:
        server.remove()  # stops the server this fixture started, by its PID


def create_database(cluster: OwnPostgres, name: str) -> str:
    """A new, empty database in the cluster; its SQLAlchemy URL."""
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/{name}"


def migrated_app(url: str, **config):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url, **config})
    with app.app_context():
        upgrade()
    return app


@contextmanager
def factories_on(app, suite_app):
    """The factories write through `app` inside the block; the suite's app is put back after."""
    factories.use_app(app)
    try:
        yield
    finally:
        factories.use_app(suite_app)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = OwnRedis(tmp_path_factory.mktemp("ops-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smtp_sink():
    sink = Sink()
    sink.start()
    yield sink
    sink.stop()


def server_env(database_url: str, redis_url: str, sink_port: int, **extra) -> dict[str, str]:
    """What an operator sets for every web and worker process of one installation."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FLASK_DEBUG", "PROMETHEUS_MULTIPROC_DIR", "RATELIMIT_STORAGE_URI", "DOSSIER_INSTANCE_DIR")}
    env.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY=TEST_CONFIG["SECRET_KEY"],
        BASE_URL=TEST_CONFIG["BASE_URL"], MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink_port), MAIL_TIMEOUT="5",
        OUTBOX_FLUSH_SECONDS="1", LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1",
        # Every test browser is 127.0.0.1; the limits themselves are tested elsewhere.
        LOGIN_LIMIT_PER_IP="100000 per minute", LOGIN_LIMIT_PER_ACCOUNT="100000 per minute",
        DOSSIER_LIMIT_PER_IP="100000 per minute",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Browser:
    """One staff member's browser: a session cookie and its CSRF token, any server."""

    def __init__(self):
        self.cookie = ""  # "<name>=<value>"
        self.token = ""

    def request(self, port: int, method: str, path: str, data: dict | None = None,
                timeout: float = 30) -> tuple[int, str, str]:
        """(status, Location, body); redirects are not followed."""
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if data is not None:
            body = urlencode({"csrf_token": self.token, **data})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for name, value in response.getheaders():
                if name.lower() == "set-cookie" and value.split("=", 1)[0].endswith(COOKIE):
                    self.cookie = value.split(";", 1)[0]
            return response.status, response.getheader("Location") or "", text
        finally:
            connection.close()

    def get(self, port: int, path: str) -> tuple[int, str, str]:
        return self.request(port, "GET", path)

    def post(self, port: int, path: str, data: dict) -> tuple[int, str, str]:
        return self.request(port, "POST", path, data)

    def read_token(self, html: str) -> None:
        match = _HX_TOKEN.search(html)
        assert match, html[:500]
        self.token = json.loads(match.group(1))["X-CSRFToken"]

    def log_in(self, port: int, email: str, password: str = factories.PASSWORD) -> Browser:
        status, _, html = self.get(port, "/admin/login")
        assert status == 200, status
        self.read_token(html)
        status, location, html = self.post(port, "/admin/login", {"email": email, "password": password})
        assert status == 302 and "/login" not in location, (status, location, html[:300])
        status, _, html = self.get(port, "/admin/account")  # a new session: its own token
        assert status == 200, status
        self.read_token(html)
        return self
