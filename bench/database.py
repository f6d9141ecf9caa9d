"""The bench database: a dedicated PostgreSQL database, or an SQLite file as a fallback.

PostgreSQL is what production runs, so it is preferred; the database is `dossier_bench`,
never `test` (the test-suite drops and recreates that one). Seeding 10k customers and
100k invoices takes a while, so a database that already holds exactly the requested data
(same counts, demo owner present, schema at head) is reused on the next run.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
FLASK = ROOT / ".venv" / "bin" / "flask"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_DB = "dossier_bench"
SQLITE_PATH = ROOT / "instance" / "bench.sqlite3"


@dataclass
class BenchDatabase:
    kind: str  # "postgresql" or "sqlite"
    url: str
    reused: bool = False
    seed_seconds: float = 0.0


def postgres_reachable(timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def _flask(env: dict, *args: str) -> None:
    """Run one `flask --app wsgi …` command in the project root; raise on failure."""
    subprocess.run([str(FLASK), "--app", "wsgi", *args], cwd=ROOT, env=env, check=True)


def _counts(url: str) -> tuple[int, int, int] | None:
    """(customers, invoices, demo owners), or None when the schema is missing/broken."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return (
                # the seeded data, without the dossier bench customer (ensure_dossier_customer)
                conn.scalar(text("SELECT count(*) FROM customers WHERE number <> :n"), {"n": DOSSIER_CUSTOMER_NUMBER}),
                conn.scalar(text("SELECT count(*) FROM documents WHERE kind = 'invoice' AND customer_id NOT IN "
                                 "(SELECT id FROM customers WHERE number = :n)"), {"n": DOSSIER_CUSTOMER_NUMBER}),
                conn.scalar(text("SELECT count(*) FROM staff_users WHERE email = 'owner@dossier.test'")),
            )
    except Exception:  # noqa: BLE001 - any error means "not a usable bench database"
        return None
    finally:
        engine.dispose()


def _recreate_postgres() -> None:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')


def _postgres_exists() -> bool:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone() is not None


def prepare(env: dict, customers: int, invoices: int) -> BenchDatabase:
    """Return a migrated, seeded bench database, reusing the previous run's if it fits."""
    if postgres_reachable():
        db = BenchDatabase("postgresql", f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}")
        exists = _postgres_exists()
    else:
        SQLITE_PATH.parent.mkdir(exist_ok=True)
        db = BenchDatabase("sqlite", f"sqlite:///{SQLITE_PATH}")
        exists = SQLITE_PATH.exists()
    env = {**env, "DATABASE_URL": db.url}

    if exists:
        _flask(env, "db", "upgrade")  # a no-op at head; keeps a reused database current
        if _counts(db.url) == (customers, invoices, 1):
            db.reused = True
            return db
        print(f"bench: {db.kind} database does not hold the expected data; recreating it")

    if db.kind == "postgresql":
        _recreate_postgres()
    else:
        SQLITE_PATH.unlink(missing_ok=True)
    _flask(env, "db", "upgrade")
    started = time.perf_counter()
    _flask(env, "seed-demo", "--customers", str(customers), "--invoices", str(invoices))
    db.seed_seconds = time.perf_counter() - started
    if db.kind == "postgresql":
        # Fresh bulk-loaded tables have no statistics yet; plan the bench queries on real ones.
        import psycopg

        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    counts = _counts(db.url)
    if counts != (customers, invoices, 1):
        raise RuntimeError(f"seeding produced {counts}, expected ({customers}, {invoices}, 1)")
    return db


# The contact person the "save contact row" benchmark saves over and over. The POST sends
# exactly these values (what ContactForm + contacts._clean would store), so every save
# after the first is a true no-op update: no audit rows pile up during the run.
BENCH_CONTACT = {
    "name": "Bench Contactperson",
    "email": "bench.contact@dossier-bench.nl",  # already normalised (validate_email)
    "phone": "+31 20 123 4567",
    "role": "billing",
    "invoice_emails": True,
    "account_emails": False,
}


def ensure_contact(url: str, customer_id: int) -> int:
    """Id of the bench contact of `customer_id`, created (SQLAlchemy Core) or reset to
    BENCH_CONTACT so that a reused database starts every run from the same row."""
    from sqlalchemy import insert, select, update

    from models.contacts import ContactPerson, ContactRole

    table = ContactPerson.__table__  # Core on the model's table: its column defaults apply
    values = {**BENCH_CONTACT, "role": ContactRole(BENCH_CONTACT["role"])}
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            contact_id = conn.scalar(select(table.c.id).where(
                table.c.customer_id == customer_id, table.c.email == BENCH_CONTACT["email"]
            ).order_by(table.c.id).limit(1))
            if contact_id is None:
                contact_id = conn.scalar(
                    insert(table).values(customer_id=customer_id, **values).returning(table.c.id)
                )
            else:
                conn.execute(update(table).where(table.c.id == contact_id).values(**values))
    finally:
        engine.dispose()
    return contact_id


DOSSIER_CUSTOMER_NUMBER = "BENCH-DOSSIER"
DOSSIER_OPEN_INVOICES = 20


def ensure_dossier_customer(url: str) -> int:
    """Id of the dossier benchmark's customer: exactly 20 open invoices (the issue's page),
    some paid history, an e-mail address (so the page shows no address form)."""
    from datetime import date, timedelta
    from decimal import Decimal

    from sqlalchemy import delete, insert, select

    from models.customers import Customer, CustomerKind
    from models.documents import Document, DocumentKind, DocumentStatus

    customers, documents = Customer.__table__, Document.__table__
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    today = date.today()
    try:
        with engine.begin() as conn:
            customer_id = conn.scalar(select(customers.c.id).where(customers.c.number == DOSSIER_CUSTOMER_NUMBER))
            if customer_id is None:
                customer_id = conn.scalar(insert(customers).values(
                    number=DOSSIER_CUSTOMER_NUMBER, kind=CustomerKind.company, name="Daan Dossier",
                    company_name="Dossier Bench B.V.", sort_key="dossier bench b.v.",
                    email="dossier.bench@example.com", country="NL", language="nl",
                    street="Benchstraat 1", postal_code="1234 AB", city="Utrecht", portal_access=True,
                ).returning(customers.c.id))
            conn.execute(delete(documents).where(documents.c.customer_id == customer_id))
            rows = []
            for i in range(DOSSIER_OPEN_INVOICES + 5):
                paid = i >= DOSSIER_OPEN_INVOICES
                net = Decimal(100 + 17 * i).quantize(Decimal("0.01"))
                tax = (net * Decimal("0.21")).quantize(Decimal("0.01"))
                rows.append(dict(
                    customer_id=customer_id, kind=DocumentKind.invoice, number=f"BD-{i + 1:04d}",
                    issue_date=today - timedelta(days=60 - i), due_date=today - timedelta(days=30 - 2 * i),
                    currency="EUR", status=DocumentStatus.paid if paid else DocumentStatus.open,
                    net_total=net, tax_total=tax, gross_total=net + tax,
                    amount_paid=net + tax if paid else Decimal("0.00"), released_to_portal=True,
                ))
            conn.execute(insert(documents), rows)
    finally:
        engine.dispose()
    return customer_id
