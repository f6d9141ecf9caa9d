"""`.venv/bin/python -m bench.footprint`: the memory of `make run`, idle and after 1,000 mixed
requests. A measurement, not a test: the figures are printed and the targets reported as met
or MISSED, never asserted.

It runs the real `make run` (its install step skipped with `-o`: the venv must be installed)
on free ports, with its files in a temporary DOSSIER_INSTANCE_DIR (its own SQLite database
with the demo data, embedded Redis socket and caught mail), so a `make run` of yours keeps
running. Every process of the tree under `make` is counted: PSS (proportional set size:
pages shared between processes, like a forked gunicorn worker's, are split between them, so
the sum is what the tree really costs) and RSS, from /proc/<pid>/smaps_rollup.

1. idle: once /readyz answers 200 and the worker and the SMTP sink have started, after
   FOOTPRINT_IDLE seconds (10);
2. after FOOTPRINT_REQUESTS (1,000) mixed requests from 4 threads (bench/traffic.py: staff
   pages and writes, the customer portal, dossier links), all of which must succeed.

Targets (issue 20): the whole tree <= 300 MiB PSS; each gunicorn worker <= 120 MiB RSS after
the requests. The tree is stopped like Ctrl-C does (SIGINT to the process group it started),
then anything left of it is killed by PID.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench import traffic
from bench.server import free_port

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
TARGET_PSS_MIB, TARGET_WORKER_RSS_MIB = 300, 120


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def tree(root: int) -> list[int]:
    """`root` and every process below it."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            pids.append(pid)
            todo += children(pid)
    return pids


def memory(pid: int) -> dict[str, int] | None:
    """Rss and Pss in bytes, from smaps_rollup (None once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] in ("Rss:", "Pss:"):
            values[parts[0][:-1].lower()] = int(parts[1]) * 1024
    return values


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0


def command(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return "?"
    words = [a.decode(errors="replace") for a in argv]
    if words and "python" in Path(words[0]).name:
        words = words[1:]
    words = [w.replace(str(ROOT) + "/", "") for w in words]
    return " ".join(words)[:90]


def is_gunicorn(pid: int) -> bool:
    """The program is gunicorn (not a shell whose command line mentions it)."""
    words = command(pid).split()
    return bool(words) and Path(words[0]).name == "gunicorn"


def snapshot(root: int) -> dict:
    rows = []
    for pid in tree(root):
        mem = memory(pid)
        if mem is None:
            continue
        role = "web worker" if is_gunicorn(pid) and is_gunicorn(parent(pid)) else ""
        rows.append({"pid": pid, "ppid": parent(pid), "command": command(pid), "role": role, **mem})
    return {
        "processes": rows,
        "count": len(rows),
        "pss_mib": round(sum(r["pss"] for r in rows) / MiB, 1),
        "rss_mib": round(sum(r["rss"] for r in rows) / MiB, 1),
        "web_worker_rss_mib": [round(r["rss"] / MiB, 1) for r in rows if r["role"] == "web worker"],
    }


def print_snapshot(title: str, snap: dict) -> None:
    print(f"\n{title}: {snap['count']} processes, PSS {snap['pss_mib']} MiB, RSS {snap['rss_mib']} MiB")
    print(f"  {'pid':>7} {'ppid':>7} {'PSS MiB':>8} {'RSS MiB':>8}  command")
    for r in snap["processes"]:
        print(f"  {r['pid']:>7} {r['ppid']:>7} {r['pss'] / MiB:>8.1f} {r['rss'] / MiB:>8.1f}  {r['command']}")


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise RuntimeError(f"make run exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen, pids: set[int]) -> None:
    """Ctrl-C: SIGINT to the process group started here; then SIGKILL to what is left of the
    processes seen in its tree (by PID)."""
    pids |= set(tree(proc.pid))
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    time.sleep(1)
    for pid in pids:
        if Path(f"/proc/{pid}").exists():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if proc.poll() is None:
        proc.wait(timeout=10)


def load(base_url: str, app_targets: traffic.Targets, requests: int, threads: int = 4) -> dict:
    recorder = traffic.Recorder()
    crowd = traffic.people(base_url, app_targets, recorder, {"staff": 4, "portal": 2, "dossier": 6}, seed=20)
    for person in crowd:
        person.start()
    started = len(recorder.snapshot())
    counter = iter(range(requests))
    lock = threading.Lock()

    def run(n: int) -> None:
        rng = random.Random(n)
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            rng.choice(crowd).step()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    outcomes = recorder.snapshot()
    result = traffic.summary(outcomes[started:])
    result["logins"] = started
    return result


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt  # unwind like Ctrl-C: the `finally` stops what was started


def main() -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    idle_seconds = float(os.environ.get("FOOTPRINT_IDLE") or 10)
    requests = int(os.environ.get("FOOTPRINT_REQUESTS") or 1000)
    instance = Path(tempfile.mkdtemp(prefix="dossier-footprint-"))
    port, mail_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = instance / "make-run.log"
    env = {**os.environ, **traffic.LIMITS, "DOSSIER_INSTANCE_DIR": str(instance), "MAIL_PORT": str(mail_port),
           "BASE_URL": base_url}
    for name in ("DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR", "FLASK_DEBUG"):
        env.pop(name, None)  # make run's defaults: SQLite, the embedded Redis
    load_before = os.getloadavg()[0]
    print(f"footprint: make run on {base_url} (instance {instance}); load average {load_before:.1f} "
          f"on {os.cpu_count()} CPUs")
    proc = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    seen: set[int] = set()
    try:
        wait(lambda: ready(base_url + "/readyz"), 300, "/readyz to answer 200", proc, log)
        wait(lambda: b"Worker on" in log.read_bytes() and b"SMTP sink on" in log.read_bytes(), 60,
             "the worker and the SMTP sink", proc, log)
        time.sleep(idle_seconds)
        seen |= set(tree(proc.pid))
        idle = snapshot(proc.pid)
        print_snapshot(f"idle ({idle_seconds:g} s after start)", idle)

        os.environ["DOSSIER_INSTANCE_DIR"] = str(instance)  # the app in this process reads the same database
        from wsgi import create_app

        app = create_app({"SECRET_KEY": (ROOT / "instance" / "secret_key").read_text().strip(),
                          "RATELIMIT_STORAGE_URI": "memory://"})
        targets = traffic.targets(app)
        started = time.perf_counter()
        result = load(base_url, targets, requests)
        elapsed = time.perf_counter() - started
        time.sleep(1)
        seen |= set(tree(proc.pid))
        after = snapshot(proc.pid)
        print_snapshot(f"after {requests} mixed requests", after)
        a = result["all"]
        print(f"\nrequests: {a['requests']} in {elapsed:.1f} s ({a['requests'] / elapsed:.0f}/s, 4 threads, "
              f"plus {result['logins']} for the logins), errors {a['errors']}, p50 {a['p50_ms']} ms, p95 {a['p95_ms']} ms")
        for label, s in result["by_label"].items():
            print(f"  {label:<32} {s['requests']:>5}  errors {s['errors']:>3}  p95 {s['p95_ms']:>7.1f} ms")
        if result["first_errors"]:
            print("  first errors: " + "; ".join(result["first_errors"]))

        worst = max(after["web_worker_rss_mib"], default=0.0)
        peak_pss = max(idle["pss_mib"], after["pss_mib"])
        print(f"\ntarget: make run <= {TARGET_PSS_MIB} MiB PSS in all: idle {idle['pss_mib']} MiB, after "
              f"{after['pss_mib']} MiB -> {'met' if peak_pss <= TARGET_PSS_MIB else 'MISSED'}")
        print(f"target: web worker <= {TARGET_WORKER_RSS_MIB} MiB RSS after {requests} requests: "
              f"{after['web_worker_rss_mib']} MiB -> {'met' if worst <= TARGET_WORKER_RSS_MIB else 'MISSED'}")
        print(f"target: no errors: {a['errors']} -> {'met' if a['errors'] == 0 else 'MISSED'}")
        out = os.environ.get("FOOTPRINT_JSON")
        if out:
            Path(out).write_text(json.dumps({"idle": idle, "after": after, "requests": result,
                                             "loadavg_before": load_before}, indent=2) + "\n")
        return 0
    finally:
        stop(proc, seen)
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("footprint: interrupted; every process it started has been stopped")
