"""`make run`'s process runner: `python -m web.procfile [Procfile]`.

Starts every line of the Procfile (`name: command`), prints their output with the name in
front, and stops them all when it gets Ctrl-C or SIGTERM, or when one of them ends. It does
what `make run` needed from honcho in one small process of the standard library only
(honcho ran a process of its own per Procfile line: 4 processes, some 63 MiB RSS, 20 MiB PSS):

- each command runs as `sh -c 'exec <command>'`, so the shell expands `${VAR:-default}` and
  is then replaced by the command (no shell process stays behind); a line of several
  commands (`a; b`, `a && b`, a pipe) runs as it is, in a shell that stays;
- each runs in a session of its own, so Ctrl-C in the terminal reaches only this runner,
  which then sends SIGTERM to each command's process group, waits up to 5 s (the warm
  shutdown of the mail worker, gunicorn's graceful stop) and then SIGKILLs what is left of
  those groups.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 5.0


def _one_command(command: str) -> bool:
    """No `;`, `&&`, `|`, `&` or redirection outside quotes: `exec` can replace the shell."""
    try:
        tokens = list(shlex.shlex(command, posix=True, punctuation_chars=True))
    except ValueError:  # unbalanced quotes: let the shell say so
        return False
    return not any(token and set(token) <= set("();<>|&") for token in tokens)


def shell_line(command: str) -> str:
    return f"exec {command}" if _one_command(command) else command


def read_procfile(path: str) -> list[tuple[str, str]]:
    entries = []
    with open(path, encoding="utf-8") as procfile:
        for line in procfile:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, command = line.partition(":")
            if not command.strip():
                raise SystemExit(f"{path}: not `name: command`: {line!r}")
            entries.append((name.strip(), command.strip()))
    return entries


class Runner:
    def __init__(self, entries: list[tuple[str, str]], out=sys.stdout):
        self.entries, self.out = entries, out
        self.width = max(len(name) for name in ["system", *(name for name, _ in entries)])
        self.processes: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def say(self, name: str, text: str) -> None:
        self.out.write(f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | {text}\n")
        self.out.flush()

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": os.environ.get("PYTHONUNBUFFERED", "1")}
        for name, command in self.entries:
            process = subprocess.Popen(
                ["/bin/sh", "-c", shell_line(command)], env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )
            self.processes[name] = process
            self.say("system", f"{name} started with pid {process.pid}")

    def signal_all(self, sig: int) -> None:
        for process in self.processes.values():
            try:
                os.killpg(process.pid, sig)  # the group this runner started for it
            except ProcessLookupError:
                pass

    def stop(self, *_args) -> None:
        if not self.stopping:
            self.stopping = True
            self.say("system", "sending SIGTERM to all processes")
            self.signal_all(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        self.start()
        selector = selectors.DefaultSelector()
        buffers: dict[str, bytes] = {}
        for name, process in self.processes.items():
            selector.register(process.stdout, selectors.EVENT_READ, name)
            buffers[name] = b""
        code = 0
        deadline = None
        while selector.get_map():
            if self.stopping and deadline is None:
                deadline = time.monotonic() + GRACE_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                self.say("system", "sending SIGKILL to what is left")
                self.signal_all(signal.SIGKILL)
                deadline = float("inf")
            for key, _ in selector.select(timeout=0.2):
                name = key.data
                chunk = os.read(key.fileobj.fileno(), 65536)
                if chunk:
                    lines = (buffers[name] + chunk).split(b"\n")
                    buffers[name] = lines.pop()
                    for line in lines:
                        self.say(name, line.decode("utf-8", "replace").rstrip("\r"))
                    continue
                selector.unregister(key.fileobj)  # the command's output closed: it has ended
                if buffers[name]:
                    self.say(name, buffers[name].decode("utf-8", "replace"))
                process = self.processes[name]
                returncode = process.wait()
                self.say("system", f"{name} stopped (exit status {returncode})")
                if not self.stopping:
                    code = returncode or 1
                    self.stop()
        for process in self.processes.values():
            process.wait()
        return code


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "Procfile"
    return Runner(read_procfile(path)).run()


if __name__ == "__main__":
    sys.exit(main())
