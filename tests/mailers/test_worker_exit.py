"""`flask --app wsgi worker` without REDIS_URL starts an embedded redis-server, which ends
with the worker: on the Procfile runner's SIGTERM (Ctrl-C on `make run`) after the worker's warm
shutdown, and on the SIGKILL it sends 5 s later to a worker still busy (web/procfile.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_CONFIG

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The worker as `make run` starts it, with the app's instance folder (where the embedded
# server keeps its socket and pid file) a directory of the test's own instead of instance/
# (which a developer's `make run` may use).
WORKER = """
import sys
from pathlib import Path
import web.config
web.config.INSTANCE_DIR = Path(sys.argv[1])  # before wsgi reads it
from flask.cli import main
sys.argv = ["flask", "--app", "wsgi", "worker"]
main()
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (a daemon's exit is reaped by init, maybe later)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _catches(pid: int, sig: int) -> bool:
    """The process handles this signal itself: RQ's warm shutdown is in place."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ends with its parent through PR_SET_PDEATHSIG")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_stopping_the_worker_stops_the_embedded_redis_it_started(app, sig):
    directory = Path(tempfile.mkdtemp(prefix="dossier-redis-"))  # short: a unix socket path has a limit
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "FLASK_DEBUG"}}
    env.update(DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], SECRET_KEY=TEST_CONFIG["SECRET_KEY"],
               RATELIMIT_STORAGE_URI="memory://", MAIL_SERVER="127.0.0.1", PYTHONUNBUFFERED="1")
    err = directory / "worker.err"
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(directory)], cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=err.open("wb"), start_new_session=True,
    )
    redis_pid = None
    try:
        # RQ installs its signal handlers last, after forking its scheduler
        _wait(lambda: worker.poll() is not None or _catches(worker.pid, signal.SIGTERM), 60, "the worker")
        assert worker.poll() is None, err.read_text()
        redis_pid = int((directory / "redis.pid").read_text())
        assert _running(redis_pid)
        # The worker's lines, RQ's INFO lines among them, are JSON.
        lines = [json.loads(line) for line in err.read_text().splitlines() if line.strip()]
        assert any(e["logger"] == "rq.worker" and e["level"] == "INFO" for e in lines)

        os.killpg(worker.pid, sig)  # the runner signals each process group: SIGTERM, then SIGKILL after 5 s
        try:
            returncode = worker.wait(timeout=5)
        except subprocess.TimeoutExpired:  # as the runner does; RQ's warm shutdown now and then
            os.killpg(worker.pid, signal.SIGKILL)  # stays in its queue read (seen 1 run in 5)
            returncode = worker.wait(timeout=10)
        assert returncode in (0, -signal.SIGKILL), err.read_text()[-3000:]
        # however the worker ended, its embedded server ends with it
        _wait(lambda: not _running(redis_pid), 10, "the embedded redis-server to stop")
        assert not (directory / "redis.sock").exists()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)  # the group this test started
            worker.wait(timeout=10)
        if redis_pid and _running(redis_pid) and str(directory).encode() in Path(f"/proc/{redis_pid}/cmdline").read_bytes():
            os.kill(redis_pid, signal.SIGKILL)  # the server our worker started, nothing else
        shutil.rmtree(directory, ignore_errors=True)
