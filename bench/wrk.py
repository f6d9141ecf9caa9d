"""Drive wrk and read back the JSON line that report.lua's `done()` prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("report.lua")
MARKER = "BENCH_JSON "


def ensure_wrk() -> str:
    """Path to wrk; installed with apt-get when missing and running as root, else exit."""
    path = shutil.which("wrk")
    if path:
        return path
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: wrk not found; installing it with apt-get")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False)
        path = shutil.which("wrk")
        if not path:
            subprocess.run(["apt-get", "update"], check=False)
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=False)
            path = shutil.which("wrk")
        if path:
            return path
    sys.exit("bench: wrk is required. Install it with `sudo apt-get install -y wrk` "
             "(Debian/Ubuntu) or `brew install wrk` (macOS), then run `make bench` again.")


def run(
    wrk: str,
    url: str,
    *,
    threads: int,
    connections: int,
    duration: str,
    headers: dict[str, str],
    method: str = "GET",
    body: str = "",
    content_type: str = "",
) -> dict:
    """One wrk run; returns the parsed summary (req_per_s, p50/p95/p99_ms, non_2xx, errors)."""
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency", "-s", str(SCRIPT)]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    env = {**os.environ, "BENCH_METHOD": method, "BENCH_BODY": body, "BENCH_CONTENT_TYPE": content_type}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    raise RuntimeError(f"wrk printed no summary (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
