"""/readyz: 503 until the database is reachable and at the migration head (ahead of it, a
newer release's migration, is ready); Redis down is "degraded", not fatal. /healthz stays the liveness check (tests/web/test_app.py)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from models.db import db
from tests.mailers.conftest import OwnRedis
from wsgi import create_app


def _head_and_previous(app) -> tuple[str, str]:
    with app.app_context():
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        head = script.get_revision(script.get_current_head())
    return head.revision, head.down_revision


def _set_version(app, revision: str) -> None:
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        db.session.commit()


def test_ready_when_the_database_is_at_the_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["database"] == "ok"
    assert response.get_json()["status"] == "ready"


def test_not_ready_while_the_database_is_behind_the_head(app):
    head, previous = _head_and_previous(app)
    _set_version(app, previous)
    try:
        response = app.test_client().get("/readyz")
        body = response.get_json()
        assert response.status_code == 503, body
        assert body["database"] == "not at the migration head"
        assert body["migration"] == {"current": [previous], "head": [head]}
    finally:
        _set_version(app, head)
    assert app.test_client().get("/readyz").status_code == 200


def test_still_ready_once_a_newer_release_has_migrated_the_database(app):
    """A rolling deploy: the next release's expand migration has run, and this process (the
    release before) does not know its revision. It stays in the pool until it is replaced
    (expand migrations keep it working); a revision it knows but not its head is 503 above."""
    head, _ = _head_and_previous(app)
    _set_version(app, "f00dfeedbeef")  # none of this code's revisions
    try:
        response = app.test_client().get("/readyz")
        body = response.get_json()
        assert response.status_code == 200, body
        assert body["database"] == "ahead of this release" and body["status"] == "ready"
        assert body["migration"] == {"current": ["f00dfeedbeef"], "head": [head]}
    finally:
        _set_version(app, head)


def test_not_ready_on_an_empty_database(tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.sqlite3'}"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["migration"]["current"] == []


def test_not_ready_when_the_database_is_unreachable():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"
    assert response.get_json()["status"] == "not ready"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_url(app):
    """Points the app at a URL the test chooses; puts REDIS_URL and the clients back after."""
    def point(url: str) -> None:
        app.config["REDIS_URL"] = url
    yield point
    app.config["REDIS_URL"] = ""
    for client in app.extensions.pop("dossier_ready_redis", {}).values():
        client.close()


def test_redis_down_is_degraded_but_ready(app, redis_url, tmp_path):
    server = OwnRedis(tmp_path)
    server.start()
    try:
        redis_url(server.url)
        response = app.test_client().get("/readyz")
        assert response.status_code == 200 and response.get_json()["redis"] == "ok"
    finally:
        server.stop()  # by its PID
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["redis"] == "degraded"


@pytest.mark.parametrize("path,key", [("/readyz", "redis"), ("/healthz", "queue")])
def test_a_redis_that_never_answers_costs_half_a_second(app, redis_url, path, key):
    """A server that accepts the connection and then says nothing (hung, or a firewall).
    /healthz waited the queue client's 5 s read timeout: past the image's HEALTHCHECK (4 s),
    so a hung Redis made the web container unhealthy."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        redis_url(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
        started = time.monotonic()
        response = app.test_client().get(path)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()
    assert response.status_code == 200 and response.get_json()[key] in ("degraded", "unavailable")
    assert accepted, "the probe never reached the silent server"
    assert elapsed < 1.5, elapsed
