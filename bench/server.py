"""Run the app under gunicorn for the bench, and stop exactly that process afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base_url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {proc.returncode} before /healthz answered")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base_url}/healthz did not answer 200 within {timeout:.0f}s")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the master we started (it stops its workers); SIGKILL its group if stuck."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group is ours: start_new_session below
        proc.wait(timeout=5)


@contextmanager
def gunicorn(env: dict, workers: int) -> Iterator[str]:
    """Yield the base URL of a healthy gunicorn; its log is shown if anything fails."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**env, "BASE_URL": base_url}
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [str(GUNICORN), "-w", str(workers), "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    ok = False
    try:
        _wait_healthy(base_url, proc)
        print(f"bench: gunicorn pid {proc.pid} ({workers} workers) at {base_url}")
        yield base_url
        ok = True
    finally:
        _stop(proc)
        if not ok:
            log.seek(0)
            tail = log.read()[-4000:]
            print("bench: gunicorn output (last 4000 chars):\n" + tail)
        log.close()
