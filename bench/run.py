"""`make bench`: the pages on cold traffic, against a static file of the same app and server.

What runs: PostgreSQL `dossier_bench` (10,000 customers, 100,000 invoices; built once by
the app's demo seeding, then reused), gunicorn with 2 sync workers (gunicorn.conf.py)
serving wsgi:app on loopback, a redis-server of its own, the SMTP sink, and wrk with 16
connections. Every request of a page is a different customer's (see bench/pages.py):
  - the dossier page /d/<token>, anonymous, as a debtor opens it from an e-mail;
  - the staff customer Overview /admin/customers/<id>, logged in as the demo owner;
  - the customer list searched with a different query each time;
  - a contact row saved through HTMX (a new phone number: every save writes);
  - the staff customer Documents tab /admin/customers/<id>/documents (every kind, the
    first page, and the account statement);
  - the staff dashboard /admin/: one URL, the same every request, whose aggregates scan
    the documents (every unpaid receivable) and the last 12 weeks' payments; it is kept
    cold only by the writer's changes.
Meanwhile a background writer (bench/writer.py) saves contacts, adds notes and creates
invoices on random customers at a low fixed rate, so the pages are read from a changing
database. Before gunicorn starts, each page's SQL statements per request are counted
in-process (bench/statements.py) and reported with its figures.

The baseline is the static file /static/css/app.css served by Flask's static route in the
same gunicorn: measured right before and right after each page (the ratio uses their
mean), as this machine's speed drifts over minutes. Every figure is reported, never
asserted; the issue's targets are printed as met / MISSED.

Environment: BENCH_DURATION (wrk -d per run, 10s), BENCH_WARMUP (2s before each run; 0
to skip), BENCH_THREADS (2), BENCH_CONNECTIONS (16), BENCH_WORKERS (2), BENCH_CUSTOMERS
(10000), BENCH_INVOICES (100000), BENCH_WRITES_PER_S (5; 0 for none), BENCH_ONLY (parts of
page names to run, comma-separated), BENCH_DATABASE (dossier_bench). The mail benchmark
(bench/mail.py) runs afterwards: BENCH_MAIL_MESSAGES (10000), BENCH_SKIP_MAIL=1 to leave
it out.
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
import time
from contextlib import ExitStack
from pathlib import Path

from bench import client, database, mail, pages, server, statements, wrk
from bench.smtp_sink import Sink
from bench.writer import Writer

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
RESULTS = Path(__file__).with_name("results.json")
OWNER, WRITER, PASSWORD = "owner@dossier.test", "admin@dossier.test", "dossier-demo"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt  # unwind like Ctrl-C: every `finally` stops what it started


def _app(env: dict):
    """The app in this process, configured like gunicorn's (same SECRET_KEY signs the tokens)."""
    from web.config import normalise_database_url
    from wsgi import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(env["DATABASE_URL"]),
                       "SECRET_KEY": env["SECRET_KEY"], "REDIS_URL": "", "RATELIMIT_STORAGE_URI": "memory://"})


def _headers(page: pages.Page, owner: client.Session) -> dict[str, str]:
    headers = {"User-Agent": client.USER_AGENT}
    if page.staff:
        headers["Cookie"] = owner.cookie_header
    if page.htmx:
        headers.update({"HX-Request": "true", "X-CSRFToken": owner.csrf_token})
    return headers


def _verify(page: pages.Page, base_url: str, owner: client.Session) -> None:
    """One request exactly like wrk's (the list's last line): it must answer 200 with the
    expected text; a broken page should not cost a whole run."""
    method, path, body = page.lines[-1]
    status, headers, html = client.fetch(base_url + path, method=method, body=body, headers=_headers(page, owner))
    if status != 200 or page.expect not in html:
        raise RuntimeError(f"{page.name}: {method} {path} answered {status} {headers.get('Location', '')}"
                           f" without {page.expect!r}: {html[:300]!r}")
    if page.staff and headers.get("Set-Cookie"):
        print(f"bench: warning: {page.name} sets a cookie on every response (wrk replays the old one)")


def _row(page: pages.Page, result: dict, before: dict, after: dict, connections: int,
         sql: dict | None) -> dict:
    static = (before["req_per_s"] + after["req_per_s"]) / 2
    status = result["status"]
    return {
        "name": page.name,
        "example": " ".join(page.lines[0][:2]),
        "distinct_requests": len(page.lines),
        "requests": result["requests"],
        "req_per_s": round(result["req_per_s"], 1),
        "static_req_per_s": round(static, 1),
        "static_before": round(before["req_per_s"], 1),
        "static_after": round(after["req_per_s"], 1),
        "ratio_to_static": round(result["req_per_s"] / static, 3) if static else None,
        "p50_ms": round(result["p50_ms"], 1),
        "p95_ms": round(result["p95_ms"], 1),
        "p99_ms": round(result["p99_ms"], 1),
        "max_ms": round(result["max_ms"], 1),
        "status": status,
        "non_2xx": status["3xx"] + status["4xx"] + status["5xx"],
        "socket_errors": sum(result["socket_errors"].values()),
        "socket_error_detail": result["socket_errors"],
        "connections": connections,
        "sql_statements_per_request": sql,
        "note": page.note or None,
        "target_ratio": page.target_ratio,
        "floor_ratio": page.floor_ratio,
        "target_p95_ms": page.target_p95_ms,
    }


def _print_table(rows: list[dict], static_runs: list[dict]) -> None:
    head = (f"{'page (cold: every request another customer)':<44} {'req/s':>7} {'static/s':>8} {'x static':>8} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'sock err':>8} {'SQL/req':>7}")
    print("\n" + head + "\n" + "-" * len(head))
    if static_runs:
        rates = [r["req_per_s"] for r in static_runs]
        s = static_runs[len(static_runs) // 2]
        print(f"{pages.STATIC_PATH + f' ({len(rates)} runs, {min(rates):.0f}-{max(rates):.0f})':<44} "
              f"{sum(rates) / len(rates):>7.1f} {'':>8} {1:>8.3f} {s['p50_ms']:>7.1f} {s['p95_ms']:>7.1f} "
              f"{s['p99_ms']:>7.1f} {sum(r['status']['3xx'] + r['status']['4xx'] + r['status']['5xx'] for r in static_runs):>7} "
              f"{sum(sum(r['socket_errors'].values()) for r in static_runs):>8} {'':>7}")
    for r in rows:
        print(f"{r['name']:<44} {r['req_per_s']:>7.1f} {r['static_req_per_s']:>8.1f} {r['ratio_to_static']:>8.3f} "
              f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['non_2xx']:>7} {r['socket_errors']:>8} "
              f"{_sql(r):>7}")
    for r in rows:
        if r["note"]:
            print(f"note: {r['name']}: {r['note']}")


def _sql(row: dict) -> str:
    sql = row["sql_statements_per_request"]
    if not sql:
        return "-"
    return f"{sql['mean']:g}" if sql["min"] == sql["max"] else f"{sql['min']}-{sql['max']}"


def _targets(rows: list[dict]) -> None:
    """Report (never assert) the issue's targets, one line per page."""
    for r in rows:
        parts = []
        if r["target_ratio"] is not None:
            ok = r["ratio_to_static"] >= r["target_ratio"]
            parts.append(f">= {r['target_ratio']:.2f}x static: {r['ratio_to_static']:.3f}x -> {'met' if ok else 'MISSED'}")
        if r["floor_ratio"] is not None:
            ok = r["ratio_to_static"] >= r["floor_ratio"]
            parts.append(f"no slower than {r['floor_ratio']}x -> {'met' if ok else 'MISSED'}")
        if r["target_p95_ms"] is not None:  # no completed request reads as 0 ms: that is no pass
            ok = r["requests"] > 0 and r["p95_ms"] <= r["target_p95_ms"]
            parts.append(f"p95 <= {r['target_p95_ms']:g} ms: {r['p95_ms']:.1f} ms -> {'met' if ok else 'MISSED'}")
        if r["non_2xx"] or r["socket_errors"]:
            parts.append(f"ERRORS: {r['status']} {r['socket_error_detail']}")
        print(f"target: {r['name']}: " + "; ".join(parts))


def _git_revision() -> str:
    out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


def main() -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    started = time.perf_counter()
    duration = os.environ.get("BENCH_DURATION") or "10s"
    warmup = os.environ.get("BENCH_WARMUP") or "2s"
    threads = _env_int("BENCH_THREADS", 2)
    connections = _env_int("BENCH_CONNECTIONS", 16)
    workers = _env_int("BENCH_WORKERS", 2)
    writes_per_s = float(os.environ.get("BENCH_WRITES_PER_S") or 5)
    only = [o.strip() for o in os.environ.get("BENCH_ONLY", "").split(",") if o.strip()]
    wrk_path = wrk.find()
    load_before = os.getloadavg()[0]
    if load_before > 1.0:
        print(f"bench: warning: load average {load_before:.1f} on {os.cpu_count()} CPUs; "
              "other processes will skew the figures")

    env = {
        **os.environ,
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "FLASK_DEBUG": "0",
        "DOSSIER_LIMIT_PER_IP": "100000000 per minute",  # wrk is one IP opening many links
    }
    env.pop("RATELIMIT_STORAGE_URI", None)  # the limits count in Redis, as in production
    customers, invoices = _env_int("BENCH_CUSTOMERS", 10_000), _env_int("BENCH_INVOICES", 100_000)
    db = database.prepare(env, customers, invoices)
    print(f"bench: {database.PG_DB} " + ("reused" if db.reused else f"seeded in {db.seed_seconds:.1f}s")
          + f" ({db.customers} customers, {db.invoices} invoices, {db.documents} documents of every kind)")
    env["DATABASE_URL"] = db.url

    rng = random.Random()
    people = database.customers()
    rng.shuffle(people)
    t = time.perf_counter()
    app = _app(env)
    tokens = pages.dossier_tokens(app, [c["id"] for c in people])
    print(f"bench: {len(tokens)} dossier links from models.services.dossier in {time.perf_counter() - t:.1f}s")
    # Each page walks the customers in its own order; the writer picks at random.
    static = pages.static_page()
    chosen = [
        pages.dossier_page(tokens),
        pages.overview_page(rng.sample(people, len(people))),
        pages.search_page(pages.search_queries(people, rng)),
        pages.contact_save_page(rng.sample(people, len(people)), rng),
        pages.documents_tab_page(rng.sample(people, len(people))),
        pages.dashboard_page(),
    ]
    chosen = [p for p in chosen if not only or any(o in p.name for o in only)]
    sql = statements.count(app, chosen, OWNER, PASSWORD)
    print("bench: SQL statements per request (in-process): "
          + ", ".join(f"{name} {c['mean']:g}" for name, c in sql.items()))

    rows: list[dict] = []
    static_runs: list[dict] = []
    writer = None
    with ExitStack() as stack:
        lists = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-lists-")))
        for page in (static, *chosen):
            page.write(lists)
        redis_url = stack.enter_context(server.redis_server())
        sink = stack.enter_context(Sink(python=str(PYTHON)))
        env.update(REDIS_URL=redis_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink.port))
        with server.gunicorn(env, workers, pages.STATIC_PATH) as base_url:
            owner = client.login(base_url, OWNER, PASSWORD)
            for page in (static, *chosen):
                _verify(page, base_url, owner)
            offsets = {page.name: 0 for page in (static, *chosen)}

            def measure(page: pages.Page) -> dict:
                """A warm-up run, then the measured one, each going on where the last stopped."""
                owner.refresh()  # a fresh idle clock: wrk replays this cookie unchanged
                runs = ([warmup] if warmup not in ("0", "0s") else []) + [duration]
                for i, length in enumerate(runs):
                    if i == len(runs) - 1:
                        print(f"bench: {page.name} ({duration}) ...", flush=True)
                    result = wrk.run(wrk_path, base_url, page.list_file, offsets[page.name], threads=threads,
                                     connections=connections, duration=length, headers=_headers(page, owner))
                    offsets[page.name] = result["next_start"]
                return result

            if writes_per_s > 0:
                writer = Writer(client.login(base_url, WRITER, PASSWORD), people, writes_per_s)
                writer.start()
            try:
                before = measure(static)
                static_runs.append(before)
                for page in chosen:
                    result = measure(page)
                    after = measure(static)
                    static_runs.append(after)
                    rows.append(_row(page, result, before, after, connections, sql.get(page.name)))
                    if offsets[page.name] > len(page.lines) and not page.repeats:
                        print(f"bench: warning: {page.name}: {offsets[page.name]} requests for "
                              f"{len(page.lines)} distinct ones; some repeated")
                    before = after
            finally:
                if writer is not None:
                    writer.stop()
        mail_messages = _env_int("BENCH_MAIL_MESSAGES", 10_000)
        mail_rows = [] if mail.skipped() else mail.run(mail_messages, redis_url)

    _print_table(rows, static_runs)
    if writer is not None:
        w = writer.summary()
        print(f"(writes in between, as {WRITER} at {w['per_second']:g}/s: done {w['done']}, failed {w['failed']}"
              + (f", e.g. {w['first_failures']}" if w["first_failures"] else "") + ")")
    mail.print_table(mail_rows)
    print()
    _targets(rows)
    mail.targets(mail_rows)
    elapsed = time.perf_counter() - started
    RESULTS.write_text(json.dumps({
        "metadata": {
            "revision": _git_revision(), "database": "postgresql", "database_reused": db.reused,
            "database_name": database.PG_DB, "customers": db.customers, "invoices": db.invoices,
            "documents": db.documents, "workers": workers,
            "worker_class": "sync", "gunicorn_conf": server.GUNICORN_CONF.exists(),
            "threads": threads, "connections": connections, "duration": duration, "warmup": warmup,
            "baseline": pages.STATIC_PATH, "writer": writer.summary() if writer else None,
            "cpus": os.cpu_count(), "loadavg_before": round(load_before, 2),
            "loadavg_after": round(os.getloadavg()[0], 2),
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "elapsed_s": round(elapsed, 1),
            "mail_messages": mail_messages if mail_rows else None,
        },
        "static_runs": static_runs,
        "pages": rows,
        "mail": mail_rows,
    }, indent=2) + "\n")
    print(f"\nbench: results in {RESULTS.relative_to(ROOT)}; whole run {elapsed:.0f}s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; every process it started has been stopped")
