"""PostgreSQL restarted under the app: while it is down every page that needs it answers a
503 page that says so (never a 500), and once it is back the same processes answer 200
again (the pool pre-pings; nothing is restarted). A PostgreSQL of the test's own, on another
port, stopped and started by its PID; skipped where PostgreSQL is not installed."""

from __future__ import annotations

import os
import threading
import time

import pytest
from flask_migrate import upgrade

from models.db import db
from models.services import dossier
from tests import factories
from tests.conftest import TEST_CONFIG, login
from tests.processes import Gunicorn, OwnPostgres, postgres_bin, wait_for
from wsgi import create_app

PG_BIN = postgres_bin()
pytestmark = pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL's initdb and postgres are not installed")
UNAVAILABLE = "The service is temporarily unavailable"


@pytest.fixture(scope="module")
def postgres():
    server = OwnPostgres(PG_BIN)
    try:
        server.start()
        yield server
    finally:
        server.remove()  # stops the server this fixture started, by its PID


@pytest.fixture(scope="module")
def pg_app(postgres):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": postgres.url})
    with app.app_context():
        upgrade()
    return app


@pytest.fixture
def records(app, pg_app):
    """A staff member and a customer with a dossier link, in the test's own PostgreSQL
    (the factories write through the app they are given; the suite's is put back after)."""
    factories.use_app(pg_app)
    try:
        staff = factories.staff(role="owner")
        customer = factories.customer(email="debtor@example.com", language="en")
        with pg_app.app_context():
            token = dossier.current_token(customer.id)
            db.session.commit()
    finally:
        factories.use_app(app)
    return staff, token


def test_a_logged_in_page_is_a_503_while_postgres_is_down_and_recovers(pg_app, postgres, records, caplog):
    staff, token = records
    client = login(pg_app.test_client(), staff)
    assert client.get("/admin/customers").status_code == 200  # the pool holds a connection now

    postgres.stop()
    try:
        for path in ("/admin/customers", f"/d/{token}"):
            response = client.get(path, headers={"Accept-Language": "nl"})
            assert response.status_code == 503, (path, response.status_code)
            assert "De dienst is tijdelijk niet beschikbaar" in response.get_data(as_text=True)
        assert any("database unreachable" in r.getMessage() for r in caplog.records)
    finally:
        postgres.start()

    assert client.get("/admin/customers").status_code == 200  # the same app, the same session
    assert client.get(f"/d/{token}").status_code == 200


def test_the_first_request_after_a_restart_nobody_saw_succeeds(pg_app, postgres, records):
    """The pool still holds connections to the old server: pre-ping replaces them."""
    staff, token = records
    client = login(pg_app.test_client(), staff)
    assert client.get("/admin/customers").status_code == 200
    postgres.stop()
    postgres.start()
    assert client.get("/admin/customers").status_code == 200
    assert client.get(f"/d/{token}").status_code == 200


def test_a_failing_statement_is_still_a_500_not_a_503(postgres, pg_app):
    """Only an unreachable database is a 503: a statement that fails is a bug, logged as one."""
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": postgres.url})

    @app.get("/test-only/bad-statement")
    def bad_statement():
        db.session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(ProgrammingError):  # with TESTING it propagates, as before
        app.test_client().get("/test-only/bad-statement")
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production
    response = app.test_client().get("/test-only/bad-statement")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)


def test_under_load_gunicorn_answers_503_while_postgres_restarts_then_200(pg_app, postgres, records, tmp_path):
    _, token = records
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLASK_DEBUG", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(DATABASE_URL=postgres.url, SECRET_KEY=TEST_CONFIG["SECRET_KEY"], BASE_URL=TEST_CONFIG["BASE_URL"],
               RATELIMIT_STORAGE_URI="memory://", DOSSIER_LIMIT_PER_IP="1000000 per minute", LOG_LEVEL="WARNING")
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    answers: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                status, body = server.get(f"/d/{token}", timeout=15)
            except OSError as error:  # a reset or a refused connection: what the test forbids
                status, body = -1, repr(error)
            answers.append((time.monotonic(), status, body))

    threads = [threading.Thread(target=load) for _ in range(4)]
    try:
        pids = server.worker_pids()
        for thread in threads:
            thread.start()
        wait_for(lambda: len(answers) >= 40, 30, message="load to start")
        stopped = time.monotonic()
        postgres.stop()
        wait_for(lambda: sum(1 for t, s, _ in answers if t > stopped and s == 503) >= 20, 30,
                 message="503s while PostgreSQL is down")
        postgres.start()
        started = time.monotonic()
        wait_for(lambda: sum(1 for t, s, _ in answers if t > started and s == 200) >= 40, 30,
                 message="200s once PostgreSQL is back")
        time.sleep(0.5)
        workers_after = server.worker_pids()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.stop()
    log = server.log.read_text()

    statuses = {s for _, s, _ in answers}
    assert statuses == {200, 503}, [a[1:] for a in answers if a[1] not in (200, 503)][:3]
    unclear = [body for _, s, body in answers if s == 503 and UNAVAILABLE not in body]
    assert not unclear, unclear[0]
    before = [s for t, s, _ in answers if t < stopped]
    assert before and set(before) == {200}
    # Back to 200 for good, without a restart: the first 200 after the restart is followed by 200s only.
    after = [s for t, s, _ in answers if t > started]
    first_ok = after.index(200)
    assert set(after[first_ok + 4:]) == {200}, after  # answers already in flight may still be 503
    assert workers_after == pids  # nothing was restarted: the same worker processes recovered
    assert "database unreachable" in log
    assert "Traceback" not in log, log[-3000:]
