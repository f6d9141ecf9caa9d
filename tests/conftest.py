"""Fixtures: one app and migrated database per session, clean tables per test, logged-in clients.

The database is real: an SQLite file by default, PostgreSQL when TEST_DATABASE_URL is set
(`.ci/run` runs the suite both ways). The schema comes from the migrations, so every run
also proves the migration history upgrades an empty database.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager

import pytest
from bs4 import BeautifulSoup
from flask_migrate import upgrade
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from models.db import db
from tests import factories
from wsgi import create_app


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


def _reset_postgres_schema(url: str) -> None:
    from sqlalchemy import create_engine

    from web.config import normalise_database_url

    engine = create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-that-is-long-enough",
    "BASE_URL": "https://dossier.example",
    "PASSWORD_HASH_PROFILE": "owasp-minimum",
    "RATELIMIT_STORAGE_URI": "memory://",
    "PAYMENTS_TEST_PROVIDER": True,
    "SERVER_NAME": None,
}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = _database_url(tmp_path_factory)
    if url.startswith("postgres"):
        _reset_postgres_schema(url)
    return url


@pytest.fixture(scope="session")
def app(database_url):
    from web.config import normalise_database_url

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url)})
    with app.app_context():
        upgrade()
    factories.use_app(app)
    return app


@pytest.fixture(autouse=True)
def _clean_database(app):
    """Each test starts with empty tables and fresh rate-limit counters.

    No app context stays open during a test: requests then get their own, as in
    production (a shared one would share `g` and the ORM session between requests).
    """
    from web.extensions import limiter

    yield
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        for attempt in range(1, 6):
            try:
                if db.engine.dialect.name == "postgresql":
                    db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                else:
                    for name in tables:
                        db.session.execute(text(f"DELETE FROM {name}"))
                db.session.commit()
                break
            except OperationalError:
                # A browser test's live server may still be finishing a request the page
                # fired as it closed; PostgreSQL then picks the TRUNCATE as a deadlock
                # victim. That request ends in a moment: empty the tables again.
                db.session.rollback()
                if attempt == 5:
                    raise
                time.sleep(0.2 * attempt)
        limiter.reset()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_token(client, path: str = "/admin/login") -> str:
    """The session's CSRF token, read from a page like a browser does (the body's hx-headers)."""
    response = client.get(path)
    soup = BeautifulSoup(response.data, "html.parser")
    return json.loads(soup.body["hx-headers"])["X-CSRFToken"]


def login(client, user, password: str = factories.PASSWORD):
    token = csrf_token(client, "/admin/login")
    response = client.post(
        "/admin/login", data={"email": user.email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.data[:500]
    return client


class StaffClient:
    """A logged-in test client that adds the CSRF token to every POST, as the pages do."""

    def __init__(self, client, user):
        self.client, self.user = client, user
        self.token = csrf_token(client, "/admin/account")

    def get(self, *args, **kwargs):
        return self.client.get(*args, **kwargs)

    def post(self, url, data=None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, **kwargs)

    def soup(self, url, expect: int = 200) -> BeautifulSoup:
        response = self.get(url)
        assert response.status_code == expect, (response.status_code, response.data[:500])
        return BeautifulSoup(response.data, "html.parser")


@pytest.fixture
def owner(app):
    return factories.staff(role="owner", email="owner@example.test", name="Olga Owner")


@pytest.fixture
def employee(app):
    return factories.staff(role="employee", email="employee@example.test", name="Eli Employee")


@pytest.fixture
def owner_client(app, owner):
    return StaffClient(login(app.test_client(), owner), owner)


@pytest.fixture
def employee_client(app, employee):
    return StaffClient(login(app.test_client(), employee), employee)


@contextmanager
def count_queries(app, describe=lambda conn, statement: statement):
    """The SQL statements the block sends to the database, each as `describe` puts it."""
    statements: list = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(describe(conn, statement))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def soup_of(response) -> BeautifulSoup:
    return BeautifulSoup(response.data, "html.parser")


def field_error(soup: BeautifulSoup, label_text: str) -> str | None:
    """The error message shown for the input labelled `label_text` (via aria-describedby)."""
    label = soup.find("label", string=lambda s: s and s.strip() == label_text)
    assert label is not None, f"no label {label_text!r}"
    control = soup.find(id=label["for"])
    for ref in (control.get("aria-describedby") or "").split():
        node = soup.find(id=ref)
        if node is not None and "error" in (node.get("class") or []):
            return node.get_text(" ", strip=True)
    return None


def input_value(soup: BeautifulSoup, label_text: str) -> str | None:
    label = soup.find("label", string=lambda s: s and s.strip() == label_text)
    assert label is not None, f"no label {label_text!r}"
    control = soup.find(id=label["for"])
    if control.name == "textarea":
        return control.get_text()
    if control.name == "select":
        selected = control.find("option", selected=True)
        return selected["value"] if selected else None
    return control.get("value")
