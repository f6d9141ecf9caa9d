"""The automatic reminders' benchmark: one run over 100,000 open invoices on PostgreSQL.

The issue's target: a reminder run over 100,000 open invoices finishes in under 60 s, in a
constant number of SQL statements per batch. Reported, never asserted.

Steps: a fresh database `dossier_bench_dunning` (BENCH_DUNNING_DATABASE names another),
migrated with `flask db upgrade`; BENCH_DUNNING_INVOICES (100,000) open invoices, 4 per
customer, bulk inserted with due dates spread over the last 60 days, so every level is
due somewhere; about 10 % of the customers without an e-mail address (letter list), 2 % on
hold, 2 % with an active instalment plan (with an instalment due), 1 % of the invoices
disputed and 1 % with an unanswered question. The schedule: the defaults (+7, +21, +35),
a fee on the 2nd and final notice, 8 % interest on the final notice. Then one real run
(mailers.dunning's: committed per batch of 500 customers), timed, with the statements of
each batch counted; then a second run the same day, which must send nothing.

`make bench-dunning` or `python -m bench.dunning` runs it alone; `make bench` runs it after
the pages and the mail (BENCH_SKIP_DUNNING=1 leaves it out).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from bench import database

PG_DB = os.environ.get("BENCH_DUNNING_DATABASE") or "dossier_bench_dunning"
TARGET_SECONDS = 60
RESULTS = Path(__file__).with_name("results_dunning.json")


def skipped() -> bool:
    return (os.environ.get("BENCH_SKIP_DUNNING") or "0").strip().lower() not in ("", "0", "false", "no")


def _log(message: str) -> None:
    print(f"bench: dunning: {message}", flush=True)


def _fresh_database(env: dict) -> str:
    import psycopg

    with psycopg.connect(host=database.PG_HOST, port=database.PG_PORT, user=database.PG_USER,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    url = f"postgresql://{database.PG_USER}@{database.PG_HOST}:{database.PG_PORT}/{PG_DB}"
    database.flask({**env, "DATABASE_URL": url}, "db", "upgrade")
    return url


def _seed(app, invoices: int, today: date) -> dict:
    from sqlalchemy import insert, text

    from models.customers import Customer, CustomerKind
    from models.db import db, now_utc
    from models.documents import Document
    from models.dunning import DunningLevel
    from models.instalments import Instalment, InstalmentPlan, plan_documents
    from models.settings import BusinessSettings

    rng = random.Random(19)
    per_customer = 4
    customers = invoices // per_customer
    now = now_utc()
    with app.app_context():
        db.session.execute(insert(BusinessSettings.__table__), [{"business_name": "Bench B.V.", "dunning_enabled": True}])
        db.session.execute(insert(DunningLevel.__table__), [
            {"level": 1, "days_after_due": 7, "fee": None, "interest_rate": None},
            {"level": 2, "days_after_due": 21, "fee": Decimal("7.50"), "interest_rate": None},
            {"level": 3, "days_after_due": 35, "fee": Decimal("15.00"), "interest_rate": Decimal("8")}])
        rows = [{"id": n, "number": f"B{n:06d}", "kind": CustomerKind.individual, "name": f"Bench Customer {n}",
                 "sort_key": f"bench customer {n}", "email": None if n % 10 == 0 else f"c{n}@example.test",
                 "country": "NL", "language": ("nl", "de", "en")[n % 3], "portal_access": True, "created_at": now,
                 "dunning_hold": n % 50 == 1} for n in range(1, customers + 1)]
        for chunk in range(0, len(rows), 10_000):
            db.session.execute(insert(Customer.__table__), rows[chunk:chunk + 10_000])
        documents = []
        for n in range(1, invoices + 1):
            due = today - timedelta(days=rng.randint(0, 60))
            amount = Decimal(rng.randint(1_000, 500_000)) / 100
            documents.append({
                "id": n, "customer_id": (n - 1) // per_customer + 1, "kind": "invoice", "number": f"BI-{n:06d}",
                "issue_date": due - timedelta(days=14), "due_date": due, "currency": "EUR", "status": "open",
                "net_total": amount, "tax_total": Decimal("0.00"), "gross_total": amount,
                "amount_paid": Decimal("0.00"), "amount_credited": Decimal("0.00"),
                "amount_written_off": Decimal("0.00"), "language": "nl", "released_to_portal": True,
                "created_at": now, "disputed": n % 100 == 7,
                "awaiting_answer_since": now if n % 100 == 13 else None})
        for chunk in range(0, len(documents), 10_000):
            db.session.execute(insert(Document.__table__), documents[chunk:chunk + 10_000])
        plan_customers = [c for c in range(1, customers + 1) if c % 50 == 3]
        db.session.execute(insert(InstalmentPlan.__table__), [
            {"id": c, "customer_id": c, "status": "active", "total": Decimal("100.00"), "currency": "EUR", "count": 2,
             "start_date": today - timedelta(days=20), "created_at": now} for c in plan_customers])
        db.session.execute(insert(Instalment.__table__), [
            {"plan_id": c, "position": p, "due_date": today - timedelta(days=20 - 15 * (p - 1)),
             "amount": Decimal("50.00")} for c in plan_customers for p in (1, 2)])
        db.session.execute(insert(plan_documents), [
            {"plan_id": c, "document_id": (c - 1) * per_customer + 1} for c in plan_customers])
        for table in ("customers", "documents", "instalment_plans", "instalments"):
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT max(id) FROM {table}))"))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return {"customers": customers, "invoices": invoices, "plans": len(plan_customers)}


def run() -> dict:
    """Build the data, run, report; returns the results.json entry."""
    from sqlalchemy import event

    from models.db import db
    from models.services import dunning
    from web.config import normalise_database_url
    from wsgi import create_app

    invoices = int(os.environ.get("BENCH_DUNNING_INVOICES") or 100_000)
    env = {**os.environ, "SECRET_KEY": "bench-dunning-0123456789abcdef0123456789", "FLASK_DEBUG": "0"}
    if not database.postgres_reachable():
        raise SystemExit("bench: dunning: needs PostgreSQL on 127.0.0.1:5432")
    today = date.today()
    started = time.perf_counter()
    url = _fresh_database(env)
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(url), "SECRET_KEY": env["SECRET_KEY"],
                      "REDIS_URL": "redis://127.0.0.1:1/0", "RATELIMIT_STORAGE_URI": "memory://"})
    seeded = _seed(app, invoices, today)
    _log(f"seeded {seeded} in {time.perf_counter() - started:.1f} s")

    per_batch: list[int] = []
    counted = [0]

    def count(*_args) -> None:
        counted[0] += 1

    def after_batch() -> None:
        db.session.commit()
        per_batch.append(counted[0])
        counted[0] = 0

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            clock = time.perf_counter()
            result = dunning.run(today, after_batch=after_batch)
            seconds = time.perf_counter() - clock
            db.session.commit()
            again_clock = time.perf_counter()
            again = dunning.run(today, after_batch=db.session.commit)
            again_seconds = time.perf_counter() - again_clock
        finally:
            event.remove(engine, "before_cursor_execute", count)
            db.session.remove()
    # How many batches took how many statements: the first invoice batch also reads the
    # schedule and the settings (and creates the year's reminder counter); the instalment
    # batches run fewer statements of their own.
    invoice_batches = per_batch[: len(per_batch) - 1] if result.instalments else per_batch
    distinct = {}
    for n in per_batch:
        distinct[n] = distinct.get(n, 0) + 1
    letters = sum(1 for r in result.reminders if r.channel == "letter")
    row = {
        "name": "reminder run",
        "open_invoices": invoices,
        "customers": seeded["customers"],
        "seconds": round(seconds, 2),
        "reminders": len(result.reminders),
        "reminded_invoices": sum(len(r.invoices) for r in result.reminders),
        "letters": letters,
        "instalment_reminders": len(result.instalments),
        "batches": result.batches,
        "batch_size": dunning.BATCH,
        "statements_per_batch": sorted(set(invoice_batches[1:])) or sorted(set(invoice_batches)),
        "first_batch_statements": invoice_batches[0] if invoice_batches else None,
        "batches_by_statements": {str(k): v for k, v in sorted(distinct.items())},
        "second_run_reminders": len(again.reminders) + len(again.instalments),
        "second_run_seconds": round(again_seconds, 2),
        "target_seconds": TARGET_SECONDS,
    }
    return row


def print_row(row: dict) -> None:
    print(f"\nreminder run over {row['open_invoices']:,} open invoices ({row['customers']:,} customers): "
          f"{row['seconds']} s; {row['reminders']:,} reminders for {row['reminded_invoices']:,} invoices "
          f"({row['letters']:,} on the letter list), {row['instalment_reminders']:,} instalment reminders; "
          f"{row['batches']} batches of {row['batch_size']} customers, SQL statements per invoice batch: "
          f"{row['statements_per_batch']} (the first {row['first_batch_statements']}; batches by statements: "
          f"{row['batches_by_statements']}); the same day again: {row['second_run_reminders']} sent "
          f"in {row['second_run_seconds']} s")


def targets(row: dict) -> None:
    ok = row["seconds"] < TARGET_SECONDS
    print(f"target: reminder run: < {TARGET_SECONDS} s: {row['seconds']} s -> {'met' if ok else 'MISSED'}; "
          f"statements per batch {row['statements_per_batch']} "
          f"-> {'constant' if len(row['statements_per_batch']) == 1 else 'NOT constant'}; "
          f"second run {'sent nothing' if not row['second_run_reminders'] else 'SENT AGAIN'}")


def main() -> int:
    row = run()
    print_row(row)
    targets(row)
    RESULTS.write_text(json.dumps(row, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
