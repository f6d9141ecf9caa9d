"""The REST API's upsert throughput: 10,000 documents with lines POSTed to /api/v1/documents.

The issue's target: at least 300 documents/s on PostgreSQL with 2 gunicorn workers.

Steps:
1. A fresh database `dossier_bench_api` (PostgreSQL), migrated, with an owner, a
   read-write API key and BENCH_API_CUSTOMERS (100) customers made through the intake.
2. gunicorn with 2 sync workers (gunicorn.conf.py, as in production) and a redis-server of
   its own (rate limits count there; the API's limit is raised for the run).
3. BENCH_API_CLIENTS (4) client threads send BENCH_API_DOCUMENTS (10,000) invoices, each
   with 3 lines, its own external id and number, BENCH_API_BATCH (100) per request to
   POST /api/v1/documents/batch (the bulk path: one request and one transaction per 100),
   over fresh HTTP/1.1 connections (sync workers close each one). Bodies are encoded
   before the clock starts. Every document must come back "created"; the database must
   then hold exactly that many.
4. The same 10,000 sent again: every one must come back "unchanged" (a read and a compare).
5. BENCH_API_SINGLE (1,000) more, one document per POST /api/v1/documents, for the rate of
   single requests (each pays for its own HTTP round trip, key check and commit).

Figures are printed and written to bench/results_api.json, never asserted.
`python -m bench.api_upsert` runs it alone; `make bench-api` too.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import text

from bench import database, server

ROOT = Path(__file__).resolve().parent.parent
PG_DB = "dossier_bench_api"
URL = f"postgresql://{database.PG_USER}@{database.PG_HOST}:{database.PG_PORT}/{PG_DB}"
RESULTS = Path(__file__).with_name("results_api.json")
TARGET = 300.0


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _prepare(env: dict, customers: int) -> str:
    """A fresh migrated database with `customers` customers; returns an API key's secret."""
    database._admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    database._admin(f'CREATE DATABASE "{PG_DB}"')
    database.flask(env, "db", "upgrade")
    from web.config import normalise_database_url
    from wsgi import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(URL), "SECRET_KEY": env["SECRET_KEY"],
                      "REDIS_URL": "", "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        from models.db import db
        from models.services import api_keys, passwords
        from models.services.intake import upsert_customer
        from models.staff import StaffRole, StaffUser

        owner = StaffUser(email="owner@bench-api.example.com", name="Bench Owner", role=StaffRole.owner,
                          password_hash=passwords.hash_password(secrets.token_urlsafe(16)))
        db.session.add(owner)
        db.session.flush()
        _key, secret = api_keys.create_key(owner, "bench", ["read", "write"])
        for i in range(customers):
            upsert_customer({"external_id": f"BC{i}", "number": f"BC{i:05d}", "name": f"Bench Customer {i}",
                             "email": f"customer{i}@bench-api.example.com"}, actor_label="bench")
        db.session.commit()
        db.engine.dispose()
    return secret


def _document(i: int, customers: int) -> bytes:
    return json.dumps({
        "kind": "invoice", "external_id": f"INV-{i}", "number": f"BENCH-{i:06d}",
        "customer_external_id": f"BC{i % customers}", "issue_date": "2026-11-01", "due_date": "2026-12-01",
        "currency": "EUR",
        "lines": [
            {"description": "Consulting", "quantity": "2.5", "unit_price": "100.00", "vat_rate": "21"},
            {"description": "Licence", "quantity": "1", "unit_price": f"{10 + i % 90}.95", "vat_rate": "21"},
            {"description": "Travel", "quantity": "3", "unit_price": "19.99", "vat_rate": "0"},
        ],
    }).encode()


def _batches(first: int, count: int, size: int, customers: int) -> list[bytes]:
    """Request bodies of `size` documents each, numbered from `first`."""
    return [b'{"documents": [' + b", ".join(_document(i, customers) for i in range(start, min(start + size, first + count)))
            + b"]}" for start in range(first, first + count, size)]


def _send(base_url: str, secret: str, bodies: list[bytes], clients: int,
          path: str = "/api/v1/documents/batch") -> tuple[float, list[float], dict]:
    """POST every body from `clients` threads; (seconds, latencies, {(status, outcome): n})."""
    parts = urlsplit(base_url)
    work: queue.SimpleQueue = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    def run() -> None:
        mine, seen = [], {}
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            connection.close()
            mine.append(time.perf_counter() - started)
            if response.status >= 300:
                keys = [f"{response.status} {data[:200].decode()}"]
            else:
                answer = json.loads(data)
                keys = [f"{response.status} {item['outcome']}" for item in answer.get("results", [answer])]
            for key in keys:
                seen[key] = seen.get(key, 0) + 1
        with lock:
            latencies.extend(mine)
            for key, n in seen.items():
                outcomes[key] = outcomes.get(key, 0) + n

    threads = [threading.Thread(target=run) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, outcomes


def _round_trip_ms(samples: int = 200) -> float:
    """The database's round trip for SELECT 1 right now: on a loaded machine every statement
    of an upsert waits this long, which the figures should be read against."""
    with database.engine(URL).connect() as connection:
        connection.execute(text("SELECT 1"))
        started = time.perf_counter()
        for _ in range(samples):
            connection.execute(text("SELECT 1"))
        return (time.perf_counter() - started) / samples * 1000


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def run() -> dict:
    if not database.postgres_reachable():
        raise SystemExit("bench: PostgreSQL is required (the target is PostgreSQL's).")
    documents, customers = _env_int("BENCH_API_DOCUMENTS", 10_000), _env_int("BENCH_API_CUSTOMERS", 100)
    clients, workers = _env_int("BENCH_API_CLIENTS", 4), _env_int("BENCH_WORKERS", 2)
    batch, single = _env_int("BENCH_API_BATCH", 100), _env_int("BENCH_API_SINGLE", 1000)
    env = {**os.environ, "SECRET_KEY": "bench-" + secrets.token_urlsafe(48), "FLASK_DEBUG": "0",
           "DATABASE_URL": URL, "API_RATE_LIMIT": "100000000 per minute", "LOG_LEVEL": "WARNING"}
    env.pop("RATELIMIT_STORAGE_URI", None)
    load_before = os.getloadavg()[0]
    secret = _prepare(env, customers)
    bodies = _batches(0, documents, batch, customers)
    singles = [_document(documents + 100 + i, customers) for i in range(single)]
    with server.redis_server() as redis_url:
        env["REDIS_URL"] = redis_url
        with server.gunicorn(env, workers, "/healthz") as base_url:
            _send(base_url, secret, _batches(documents, 100, 10, customers), clients)  # warm-up: 100 documents
            seconds, latencies, outcomes = _send(base_url, secret, bodies, clients)
            again_seconds, _again_latencies, again = _send(base_url, secret, bodies, clients)
            single_seconds, single_latencies, single_outcomes = _send(base_url, secret, singles, clients,
                                                                      "/api/v1/documents")
    round_trip = _round_trip_ms()
    with database.engine(URL).connect() as connection:
        measured = "FROM documents WHERE external_id LIKE 'INV-%' AND CAST(substr(external_id, 5) AS integer) < :n"
        stored = connection.execute(text(f"SELECT count(*) {measured}"), {"n": documents}).scalar()
        lines = connection.execute(text(f"SELECT count(*) FROM document_lines WHERE document_id IN (SELECT id {measured})"),
                                   {"n": documents}).scalar()
    rate = documents / seconds
    result = {
        "name": "api upsert documents", "documents": documents, "batch": batch, "workers": workers,
        "clients": clients, "seconds": round(seconds, 2), "documents_per_s": round(rate, 1),
        "request_p50_ms": round(_percentile(latencies, 0.5), 1), "request_p95_ms": round(_percentile(latencies, 0.95), 1),
        "outcomes": outcomes, "stored": stored, "lines": lines,
        "unchanged_per_s": round(documents / again_seconds, 1), "unchanged_outcomes": again,
        "single_documents": single, "single_per_s": round(single / single_seconds, 1),
        "single_p50_ms": round(_percentile(single_latencies, 0.5), 1),
        "single_p95_ms": round(_percentile(single_latencies, 0.95), 1), "single_outcomes": single_outcomes,
        "load_average_before": round(load_before, 2), "select_1_round_trip_ms": round(round_trip, 3), "cpus": os.cpu_count(),
        "target_documents_per_s": TARGET, "met": rate >= TARGET,
    }
    print(f"bench: API upsert: {documents} documents with 3 lines, {batch} per request, in {seconds:.1f}s = "
          f"{rate:.0f} documents/s {'met' if result['met'] else 'MISSED'} (target >= {TARGET:.0f}/s; "
          f"{workers} workers, {clients} clients; request p50 {result['request_p50_ms']} ms, "
          f"p95 {result['request_p95_ms']} ms); answers {outcomes}; stored {stored} documents, {lines} lines")
    print(f"bench: API upsert sent again: {result['unchanged_per_s']:.0f} documents/s, answers {again}")
    print(f"bench: API upsert one per request: {single} documents, {result['single_per_s']:.0f} documents/s "
          f"(p50 {result['single_p50_ms']} ms, p95 {result['single_p95_ms']} ms), answers {single_outcomes}")
    print(f"bench: PostgreSQL round trip (SELECT 1) after the run: {round_trip:.2f} ms")
    if load_before > 1.0:
        print(f"bench: warning: load average {load_before:.1f} on {os.cpu_count()} CPUs before the run; "
              "other processes skew the figures")
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    run()
    sys.exit(0)
