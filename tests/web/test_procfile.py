"""`make run`'s process runner (web/procfile.py): every Procfile line runs with its name in
front of its output, no shell stays behind, and everything stops on SIGTERM or Ctrl-C (the
runner's), after one command ends by itself, and by SIGKILL for a command ignoring SIGTERM.
Real processes; each test stops what it started by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUNNER = "import sys, web.procfile as p; p.GRACE_SECONDS = float(sys.argv[2]); sys.exit(p.main())"


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Started:
    def __init__(self, tmp_path: Path, procfile: str, grace: float = 5.0, **env: str):
        self.procfile = tmp_path / "Procfile"
        self.procfile.write_text(procfile)
        self.out = tmp_path / "out.log"
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(self.procfile), str(grace)], cwd=PROJECT_ROOT,
            env={**os.environ, **env}, stdout=self.out.open("wb"), stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.out.read_text()

    def child_pids(self) -> dict[str, int]:
        """name -> pid, from the runner's "<name> started with pid N" lines."""
        found = {}
        for line in self.text().splitlines():
            if " started with pid " in line:
                name = line.split("|", 1)[1].strip().split()[0]
                found[name] = int(line.rsplit(" ", 1)[1])
        return found

    def cleanup(self) -> None:
        for pid in self.child_pids().values():  # only the processes this runner started
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def started(tmp_path):
    runs: list[Started] = []

    def start(procfile: str, **kwargs) -> Started:
        runs.append(Started(tmp_path, procfile, **kwargs))
        return runs[-1]

    yield start
    for run in runs:
        run.cleanup()


def test_output_is_named_no_shell_stays_and_sigterm_stops_everything(started):
    run = started("# a comment\n\nhello: echo \"hi ${WHO:-there}\" && sleep 60\nnap: sleep ${NAP:-60}\n", WHO="you")
    wait_for(lambda: len(run.child_pids()) == 2 and "hi you" in run.text(), 10, "both commands")
    pids = run.child_pids()
    # One command: `exec` replaced the shell. Several: the shell stays, with its commands below it.
    assert Path(f"/proc/{pids['nap']}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"60"]
    assert Path(f"/proc/{pids['hello']}/cmdline").read_bytes().split(b"\0")[0] == b"/bin/sh"
    for pid in pids.values():
        assert os.getpgid(pid) == pid  # a process group of its own
    assert any(line.endswith("hello  | hi you") for line in run.text().splitlines()), run.text()

    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=10) == 0, run.text()
    assert not any(alive(pid) for pid in pids.values())


def test_ctrl_c_is_the_same_as_sigterm(started):
    run = started("nap: sleep 60\n")
    wait_for(lambda: run.child_pids(), 10, "the command")
    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(timeout=10) == 0, run.text()
    assert not alive(run.child_pids()["nap"])


def test_a_command_that_ends_stops_the_others_and_the_runner_fails(started):
    run = started("short: sh -c 'echo bye; exit 3'\nlong: sleep 60\n")
    assert run.process.wait(timeout=10) == 3, run.text()
    assert "short stopped (exit status 3)" in run.text()
    assert not alive(run.child_pids()["long"])


def test_a_command_ignoring_sigterm_is_killed_after_the_grace_period(started):
    run = started("stubborn: python3 -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  "print(\"ready\", flush=True); time.sleep(60)'\n", grace=0.5)
    wait_for(lambda: "ready" in run.text(), 10, "the command to ignore SIGTERM")
    pid = run.child_pids()["stubborn"]
    started_at = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    run.process.wait(timeout=10)
    assert time.monotonic() - started_at >= 0.5
    assert "sending SIGKILL" in run.text()
    assert not alive(pid)
