"""The bench database: PostgreSQL `dossier_bench` (never `test`, which the test-suite drops;
BENCH_DATABASE names another, e.g. one of your own on a shared server).

It is seeded by the app's own `flask seed-demo --customers N --invoices M` (Core bulk
inserts: under a minute for 10,000 / 100,000) and reused by the next run when it still
holds that data set: the same customer count, at least M invoices but not more than 5 %
extra (each run's background writer adds a few hundred; past that it is rebuilt), the
demo owner present, the schema upgraded to head. The documents are those invoices plus
the showcase's few of every kind (on the first three customers) and what the writers added.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
FLASK = ROOT / ".venv" / "bin" / "flask"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_DB = os.environ.get("BENCH_DATABASE") or "dossier_bench"
URL = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"
EXTRA_INVOICES = 0.05  # bench writes a reused database may have gathered before it is rebuilt
CONTACT_DOMAIN = "dossier-bench.nl"


@dataclass
class BenchDatabase:
    url: str
    customers: int = 0
    invoices: int = 0
    documents: int = 0  # every kind: the invoices, the showcase's and the writers'
    reused: bool = False
    seed_seconds: float = 0.0


def engine(url: str = URL):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def postgres_reachable(timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def flask(env: dict, *args: str) -> str:
    """Run one `flask --app wsgi …` command in the project root; its output (the app's
    JSON log lines) is shown only if it fails. Returns what it printed on stdout."""
    out = subprocess.run([str(FLASK), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        print(out.stdout[-4000:] + out.stderr[-4000:])
        raise RuntimeError(f"flask {' '.join(args)} failed with status {out.returncode}")
    return out.stdout


def _counts() -> tuple[int, int, int, int] | None:
    """(customers, invoices, demo owners, documents of every kind), or None when the schema
    is missing or broken."""
    eng = engine()
    try:
        with eng.connect() as conn:
            return conn.execute(text(
                "SELECT (SELECT count(*) FROM customers),"
                " (SELECT count(*) FROM documents WHERE kind = 'invoice'),"
                " (SELECT count(*) FROM staff_users WHERE email = 'owner@dossier.test'),"
                " (SELECT count(*) FROM documents)")).one()
    except Exception:  # noqa: BLE001 - any error means "not a usable bench database"
        return None
    finally:
        eng.dispose()


def _fits(counts, customers: int, invoices: int) -> bool:
    return (counts is not None and counts[0] == customers and counts[2] == 1
            and invoices <= counts[1] <= invoices * (1 + EXTRA_INVOICES))


def _admin(sql: str, *params) -> list:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        cursor = conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


def prepare(env: dict, customers: int, invoices: int) -> BenchDatabase:
    """A migrated database holding the requested data set, reusing the previous run's."""
    if not postgres_reachable():
        raise SystemExit(f"bench: PostgreSQL is required on {PG_HOST}:{PG_PORT} (the targets are PostgreSQL's).")
    env = {**env, "DATABASE_URL": URL}
    db = BenchDatabase(URL)
    if _admin("SELECT 1 FROM pg_database WHERE datname = %s", PG_DB):
        flask(env, "db", "upgrade")  # a no-op at head; keeps a reused database current
        counts = _counts()
        if _fits(counts, customers, invoices):
            _ensure_contacts()
            db.customers, db.invoices, db.documents, db.reused = counts[0], counts[1], counts[3], True
            return db
        print(f"bench: {PG_DB} holds {counts and counts[:3]}, not ({customers}, {invoices}, 1); rebuilding it")
    _admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{PG_DB}"')
    flask(env, "db", "upgrade")
    started = time.perf_counter()
    print("bench: " + flask(env, "seed-demo", "--customers", str(customers), "--invoices", str(invoices)).strip())
    _ensure_contacts()
    db.seed_seconds = time.perf_counter() - started
    _analyze()
    counts = _counts()
    if not _fits(counts, customers, invoices):
        raise RuntimeError(f"seeding produced {counts and counts[:3]}, expected ({customers}, {invoices}, 1)")
    db.customers, db.invoices, db.documents = counts[0], counts[1], counts[3]
    return db


def _ensure_contacts() -> None:
    """One contact person per customer (the demo data has none), for the contact saves."""
    eng = engine()
    try:
        with eng.begin() as conn:
            conn.execute(text(
                "INSERT INTO contact_persons (customer_id, name, email, phone, role,"
                " invoice_emails, account_emails, created_at)"
                " SELECT c.id, 'Contact ' || c.number, 'contact.' || c.id || :domain, NULL,"
                " 'billing', true, false, now() FROM customers c"
                " WHERE NOT EXISTS (SELECT 1 FROM contact_persons p WHERE p.customer_id = c.id)"
            ), {"domain": "@" + CONTACT_DOMAIN})
    finally:
        eng.dispose()


def _analyze() -> None:
    """Fresh bulk-loaded tables have no statistics yet; plan the bench queries on real ones."""
    import psycopg

    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def customers() -> list[dict]:
    """What the request lists are built from: every live customer with its first contact."""
    eng = engine()
    try:
        with eng.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(text(
                "SELECT c.id, c.number, c.name, c.company_name, c.email, p.id AS contact_id,"
                " p.name AS contact_name, p.email AS contact_email"
                " FROM customers c JOIN LATERAL (SELECT id, name, email FROM contact_persons"
                "  WHERE customer_id = c.id ORDER BY id LIMIT 1) p ON true"
                " WHERE c.archived_at IS NULL ORDER BY c.id"))]
    finally:
        eng.dispose()
