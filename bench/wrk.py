"""Drive wrk over a list of requests (cold.lua) and read back the JSON line it prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("cold.lua")
MARKER = "BENCH_JSON "


def find() -> str:
    path = shutil.which("wrk")
    if not path:
        sys.exit("bench: wrk is required: `sudo apt-get install -y wrk` (Debian/Ubuntu) "
                 "or `brew install wrk` (macOS), then run `make bench` again.")
    return path


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]] if duration[-1] in units else float(duration)


def run(wrk: str, base_url: str, list_file: Path, start: int, *, threads: int, connections: int,
        duration: str, headers: dict[str, str]) -> dict:
    """One wrk run sending the lines of `list_file` from index `start` on; returns the
    summary (requests, req_per_s, p50/p95/p99_ms, status classes, socket_errors)."""
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}", "-s", str(SCRIPT)]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd += [base_url + "/", "--", str(list_file), str(start), str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         timeout=_seconds(duration) + 60)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    raise RuntimeError(f"wrk printed no summary (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
