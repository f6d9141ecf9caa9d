"""CSV import speed and memory: a customer file of N rows through the import job.

    python -m bench.csv_import --rows 100000   # PostgreSQL dossier_bench_csv (BENCH_CSV_DATABASE_URL)
    python -m bench.csv_import --rows 10000 --rows 100000   # both sizes, peak RSS compared
    python -m bench.csv_import --read-only --rows 10000 --rows 200000   # the file's way only, no import

Each size runs in a child process of its own (so its peak RSS is its own) on an emptied
database: the file is written to a temporary file, stored as an import job in chunks
(as the wizard's upload is), and run by the same code an RQ worker runs
(runner.claim + runner.run_job), a batch per transaction. Target (#18): 100,000 rows in
under 2 minutes on PostgreSQL, peak memory flat in the file's size.

Where the time goes (4 December 2026, the shared 2-core machine): reading is not it
(`--read-only`: 200,000 rows stored, decoded, parsed and mapped at 40,000 rows/s, peak RSS
148.0 MiB for 10,000 rows and 148.2 MiB for 200,000). Before the batch door,
models.services.intake took one record at a time: about 11 SQL statements per new customer
with a contact person and 7 per unchanged one, 15-20 ms per record, 30-70 rows/s. The batch
door (runner.apply_batch -> intake.upsert_customers, 500 rows a batch, a constant
number of statements whatever its size) then gave 10,000 rows in 9.3-10.8 s (930-1,070
rows/s) but 100,000 in 237-244 s (410-420 rows/s; two runs, load 0.8-2.3 and 3.2): the rate
fell as the table grew. Timing each statement per 20 batches showed one growing: the batch's match,
`lower(number) IN (500 parameters)`, 8 ms per batch at first and 1.5 s at 100,000
customers. psycopg prepares a statement on its 6th run and PostgreSQL then keeps a generic
plan, chosen while the table was small and had no statistics (autovacuum off here; on
any server a table filled by the import is analysed late): a sequential scan comparing
every customer with each of the 500 parameters (EXPLAIN ANALYZE at 100,000 customers:
1,841 ms; the same statement as an index scan on ix_customers_number_lower: 0.8 ms).

Now: the index on lower(number) is unique (numbers were already unique ignoring case in
save_customer and the batch), so the planner knows a number matches one customer at most
without statistics, and every lookup of the batch goes as one array parameter
(bulk.among: `= ANY(:values)`, the same statement text for any batch size); EXPLAIN
ANALYZE, generic plan, 100,000 customers never analysed: the batch's match 1.5 ms, its
contact persons 0.3 ms, its tags 0.25 ms, all index scans. Webhook deliveries and failed
rows go as one INSERT each from a JSON parameter (bulk.insert_rows); new customers,
contact persons and events are the ORM's one multi-row INSERT per flush. Measured on
PostgreSQL 15, `--rows 10000 --rows 100000` (load average at start -> end):
  (0.77 -> 1.10): 10,000 rows 8.65 s (1,156 rows/s); 100,000 rows 74.8 s (1,337 rows/s)
  peak RSS 154.4 MiB for 10,000 rows, 158.4 MiB for 100,000: flat in file size
The 100,000-row target (< 120 s) is met with the rate flat (it was 237-244 s).
Writing the new customers, contact persons and events from a JSON recordset instead (ids
taken from the sequence first) made it 45-47 s, but as a second way of persisting ORM
objects beside the flush, on PostgreSQL only; it was taken out again for that.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 120
# A database of its own (emptied by every run), never the pages' dossier_bench or a test one.
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/dossier_bench_csv"


def ensure_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        return
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).scalar():
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def write_file(path: Path, rows: int) -> None:
    """A Dutch-style export: semicolons, a BOM, one contact person, tags."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        handle.write("Klantnummer;Naam;Bedrijfsnaam;Soort;E-mail;Telefoon;Straat;Postcode;Plaats;Land;"
                     "Contactpersoon 1 naam;Contactpersoon 1 e-mail;Tags\r\n")
        for i in range(rows):
            company = i % 3 == 0
            handle.write(f"B-{i:07d};Klant {i};{f'Bedrijf {i} BV' if company else ''};"
                         f"{'bedrijf' if company else 'particulier'};klant{i}@example.nl;020-{i % 10000000:07d};"
                         f"Straat {i % 500};{1000 + i % 9000} AB;Plaats {i % 300};NL;"
                         f"{f'Contact {i}' if i % 2 else ''};{f'contact{i}@example.nl' if i % 2 else ''};"
                         f"{'vip' if i % 10 == 0 else ''}\r\n")


def child(rows: int, url: str, read_only: bool = False) -> dict:
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdef")
    sys.path.insert(0, str(ROOT))
    from flask_migrate import upgrade
    from sqlalchemy import text

    from models.db import db
    from models.services.csv_import import runner
    from web.config import normalise_database_url
    from wsgi import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(url), "LOG_LEVEL": "WARNING"})
    with tempfile.TemporaryDirectory() as tmp, app.app_context():
        upgrade()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                db.session.execute(text(f"DELETE FROM {name}"))
        db.session.commit()
        path = Path(tmp) / "customers.csv"
        write_file(path, rows)
        size = path.stat().st_size
        started = time.perf_counter()
        with path.open("rb") as stream:
            job = runner.create_job(None, "customers", path.name, stream, 1 << 40)
        runner.queue_run(job, dry_run=False)
        db.session.commit()
        stored = time.perf_counter()
        if read_only:  # the file's way through: chunks from the database, decoded, parsed, mapped
            from models.services.csv_import import fields, reading

            converter = fields.Converter(job.kind, list(job.header), runner.job_mapping(job), job.decimal)
            records = sum(1 for _ in converter.records(reading.rows(runner.file_chunks(job.id),
                                                                      runner.file_format(job))))
            assert records == rows
        else:
            assert runner.claim(job.id)
            job = runner.run_job(job.id)
        finished = time.perf_counter()
        result = {"rows": rows, "bytes": size, "status": job.status.value, "created": job.created,
                  "failed": job.failed, "error": job.error, "upload_s": round(stored - started, 2),
                  "import_s": round(finished - stored, 2), "rows_per_s": round(rows / (finished - stored)),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "database": db.engine.dialect.name}
    return result


def run(sizes: list[int], url: str, read_only: bool = False) -> list[dict]:
    results = []
    for rows in sizes:
        out = subprocess.run([sys.executable, "-m", "bench.csv_import", "--child", "--rows", str(rows), "--url", url,
                              *(["--read-only"] if read_only else [])],
                             cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--url", default=os.environ.get("BENCH_CSV_DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--read-only", action="store_true",
                        help="store and read the file (chunks, decoding, parsing, mapping) without importing")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.rows[0], args.url, args.read_only)))
        return
    ensure_database(args.url)
    results = run(args.rows or [10_000, 100_000], args.url, args.read_only)
    for r in results:
        print(f"{r['rows']:>7} rows ({r['bytes'] / 1e6:.1f} MB) on {r['database']}: upload {r['upload_s']} s, "
              f"{'read' if args.read_only else 'import'} {r['import_s']} s ({r['rows_per_s']} rows/s), {r['created']} created, {r['failed']} failed, "
              f"peak RSS {r['peak_rss_mib']} MiB" + (f" — {r['error']}" if r["error"] else ""))
    largest = max(results, key=lambda r: r["rows"])
    if largest["rows"] >= 100_000 and not args.read_only:
        verdict = "OK" if largest["import_s"] < TARGET_SECONDS else "TOO SLOW"
        print(f"100,000-row target (< {TARGET_SECONDS} s): {verdict}")
    if len(results) > 1:
        small = min(results, key=lambda r: r["rows"])
        print(f"peak RSS {small['rows']} rows: {small['peak_rss_mib']} MiB; "
              f"{largest['rows']} rows: {largest['peak_rss_mib']} MiB")


if __name__ == "__main__":
    main()
