"""`make soak`: 100 simulated people for 60 s on the portal, dossier and staff pages, with
writes, against the production layout on the bench database. Not part of CI: the figures are
printed (and written to bench/soak.json), the targets reported as met or MISSED.

What runs: PostgreSQL `dossier_bench` (10,000 customers, 100,000 invoices; built or reused by
bench/database.py, as `make bench` does), gunicorn with 2 sync workers (gunicorn.conf.py),
one `flask worker` delivering the mail the writes cause to the counting SMTP sink, and a
redis-server of its own. Every process is started in a session of its own and stopped by
its PID, Ctrl-C included.

The people (bench/traffic.py), each a thread with a session of its own, logged in through
the forms first: staff (dashboard, search, a customer's Overview and Documents tab, the
document list and pages; notes and draft invoices written), portal customers (home,
preferences, contacts; preferences saved) and debtors on their dossier links (the dossier,
an invoice; now and then a question). Each waits SOAK_THINK seconds (uniform, 0.5-1.5)
between requests, as a person reads.

Reported: requests, errors (anything but the expected answer, or a socket error: target
0), p50/p95/p99 in all and per page, the mail delivered, and the memory (PSS and RSS) of the
gunicorn master and each worker and of the mail worker before the run and after it.

Environment: SOAK_CLIENTS (100), SOAK_SECONDS (60), SOAK_THINK ("0.5-1.5"), SOAK_MIX (share
of staff, portal and dossier people: "25,25,50"), SOAK_WORKERS (gunicorn workers, 2),
BENCH_CUSTOMERS / BENCH_INVOICES / BENCH_DATABASE as for `make bench`.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench import database, server, traffic
from bench.footprint import MiB, memory, tree
from bench.smtp_sink import Sink

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
FLASK = ROOT / ".venv" / "bin" / "flask"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
RESULTS = Path(__file__).with_name("soak.json")
TARGET_P95_MS = 500  # a person waiting on a page; reported, not asserted


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt  # unwind like Ctrl-C: every `finally` stops what it started


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def process(name: str, cmd: list[str], env: dict, ready=None, timeout: float = 90):
    """Start `cmd` in a session of its own; yield it once `ready()`; stop it by its PID."""
    log = tempfile.NamedTemporaryFile(prefix=f"soak-{name}-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while ready is not None and not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n" + Path(log.name).read_text()[-3000:])
            time.sleep(0.2)
        yield proc
    finally:
        server.stop(proc)
        text = Path(log.name).read_text(errors="replace")
        if "Traceback" in text:
            print(f"soak: {name} logged a traceback (log kept in {log.name}):\n" + text[-2000:])
        else:
            os.unlink(log.name)


def measure(pids: dict[str, int]) -> dict:
    """PSS and RSS (MiB) of each named process and of the gunicorn workers below the master."""
    rows = {}
    for name, pid in pids.items():
        for n, child in enumerate(p for p in tree(pid) if p != pid):
            mem = memory(child)
            if mem:
                rows[f"{name} worker {n + 1}"] = mem
        mem = memory(pid)
        if mem:
            rows[name] = mem
    out = {name: {"pss_mib": round(m["pss"] / MiB, 1), "rss_mib": round(m["rss"] / MiB, 1)} for name, m in rows.items()}
    out["total"] = {"pss_mib": round(sum(m["pss"] for m in rows.values()) / MiB, 1),
                    "rss_mib": round(sum(m["rss"] for m in rows.values()) / MiB, 1)}
    return out


def main() -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    clients = int(os.environ.get("SOAK_CLIENTS") or 100)
    seconds = float(os.environ.get("SOAK_SECONDS") or 60)
    low, high = (float(x) for x in (os.environ.get("SOAK_THINK") or "0.5-1.5").split("-"))
    shares = [int(x) for x in (os.environ.get("SOAK_MIX") or "25,25,50").split(",")]
    workers = int(os.environ.get("SOAK_WORKERS") or 2)
    mix = dict(zip(("staff", "portal", "dossier"), (round(clients * s / sum(shares)) for s in shares)))
    mix["dossier"] = clients - mix["staff"] - mix["portal"]
    load_before = os.getloadavg()[0]
    if load_before > 1.0:
        print(f"soak: warning: load average {load_before:.1f} on {os.cpu_count()} CPUs; "
              "other processes will skew the figures")

    env = {**os.environ, **traffic.LIMITS, "SECRET_KEY": "soak-" + secrets.token_urlsafe(48), "FLASK_DEBUG": "0",
           "LOG_LEVEL": "WARNING", "OUTBOX_FLUSH_SECONDS": "5"}
    for name in ("RATELIMIT_STORAGE_URI", "PROMETHEUS_MULTIPROC_DIR", "DOSSIER_INSTANCE_DIR"):
        env.pop(name, None)
    db = database.prepare(env, int(os.environ.get("BENCH_CUSTOMERS") or 10_000),
                          int(os.environ.get("BENCH_INVOICES") or 100_000))
    env["DATABASE_URL"] = db.url
    print(f"soak: {database.PG_DB} ({db.customers} customers, {db.invoices} invoices); "
          f"{clients} people {mix} for {seconds:g} s, {low:g}-{high:g} s between requests")

    from web.config import normalise_database_url
    from wsgi import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(db.url), "SECRET_KEY": env["SECRET_KEY"],
                      "REDIS_URL": "", "RATELIMIT_STORAGE_URI": "memory://"})
    targets = traffic.targets(app, limit=2000)

    recorder = traffic.Recorder()
    with ExitStack() as stack:
        redis_url = stack.enter_context(server.redis_server())
        sink = stack.enter_context(Sink(python=str(PYTHON)))
        port = server.free_port()
        base_url = f"http://127.0.0.1:{port}"
        env.update(REDIS_URL=redis_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink.port), BASE_URL=base_url)
        web = stack.enter_context(process(
            "gunicorn", [str(GUNICORN), "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "wsgi:app"], env,
            ready=lambda: _ready(base_url + "/readyz")))
        mailer = stack.enter_context(process("worker", [str(FLASK), "--app", "wsgi", "worker"], env))
        pids = {"gunicorn": web.pid, "mail worker": mailer.pid}

        crowd = traffic.people(base_url, targets, recorder, mix, seed=17)
        started = time.perf_counter()
        for person in crowd:
            person.start()
        logins = len(recorder.snapshot())
        print(f"soak: {len(crowd)} people logged in / opened their links in {time.perf_counter() - started:.1f} s")
        time.sleep(2)
        before = measure(pids)
        sink.phase("soak")

        stop = threading.Event()

        def live(person: traffic.Person, rng: random.Random) -> None:
            stop.wait(rng.uniform(0, high))  # not all at once
            while not stop.is_set():
                person.step()
                stop.wait(rng.uniform(low, high))

        threads = [threading.Thread(target=live, args=(p, random.Random(n)), daemon=True) for n, p in enumerate(crowd)]
        run_started = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            time.sleep(seconds)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        elapsed = time.perf_counter() - run_started
        after = measure(pids)
        time.sleep(6)  # the mail the last writes caused
        mail = sink.stats("soak")

    outcomes = recorder.snapshot()[logins:]
    result = traffic.summary(outcomes)
    a = result["all"]
    print(f"\n{'page':<32} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for label, s in [*result["by_label"].items(), ("all", a)]:
        print(f"{label:<32} {s['requests']:>8} {s['errors']:>6} {s['p50_ms']:>7.1f} {s['p95_ms']:>7.1f} "
              f"{s['p99_ms']:>7.1f} {s['max_ms']:>7.1f}")
    print(f"\n{a['requests']} requests in {elapsed:.0f} s ({a['requests'] / elapsed:.0f}/s); "
          f"mail delivered to the sink: {mail['messages']} ({mail['duplicated']} Message-IDs twice)")
    if result["first_errors"]:
        print("first errors: " + "; ".join(result["first_errors"]))
    print(f"\n{'memory (MiB)':<22} {'PSS before':>10} {'PSS after':>10} {'RSS before':>10} {'RSS after':>10}")
    for name in before:
        b, f = before[name], after.get(name, {"pss_mib": 0, "rss_mib": 0})
        print(f"{name:<22} {b['pss_mib']:>10.1f} {f['pss_mib']:>10.1f} {b['rss_mib']:>10.1f} {f['rss_mib']:>10.1f}")
    print(f"\ntarget: 0 errors: {a['errors']} -> {'met' if a['errors'] == 0 else 'MISSED'}")
    print(f"target: p95 <= {TARGET_P95_MS} ms: {a['p95_ms']} ms -> {'met' if a['requests'] and a['p95_ms'] <= TARGET_P95_MS else 'MISSED'}")
    RESULTS.write_text(json.dumps({
        "metadata": {"clients": clients, "mix": mix, "seconds": seconds, "think_s": [low, high],
                     "gunicorn_workers": workers, "database": database.PG_DB, "customers": db.customers,
                     "invoices": db.invoices, "cpus": os.cpu_count(), "loadavg_before": round(load_before, 2),
                     "loadavg_after": round(os.getloadavg()[0], 2),
                     "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        "requests": result, "mail": mail, "memory_before": before, "memory_after": after,
    }, indent=2) + "\n")
    print(f"soak: results in {RESULTS.relative_to(ROOT)}")
    return 0 if a["errors"] == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("soak: interrupted; every process it started has been stopped")
