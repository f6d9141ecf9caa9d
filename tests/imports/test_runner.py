"""Imports through models.services.intake, a batch per transaction: created, updated,
unchanged and failed rows; re-import and export round trips; a failure part-way."""

from __future__ import annotations

import io
from decimal import Decimal

from sqlalchemy import func, select, update

from models.contacts import ContactPerson
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.imports import ImportChunk, ImportStatus
from models.services.csv_import import export, runner
from tests import factories
from tests.conftest import count_queries
from tests.imports.conftest import encode, run_file

CUSTOMERS = """Klantnummer;Naam;Bedrijfsnaam;Soort;E-mail;Land;Contactpersoon 1 naam;Contactpersoon 1 e-mail;Contactpersoon 2 naam;Contactpersoon 2 e-mail;Tags
K-1;Jan Jansen;;particulier;jan@example.nl;NL;Piet Jansen;piet@example.nl;;;vip, nl
K-2;Mies Bakker;Bakker & Zonen B.V.;bedrijf;mies@example.nl;NL;Anna;anna@example.nl;Bert;bert@example.nl;
K-3;;;;kees@example.nl;NL;;;;;
K-4;Kees;;;kees@example;NL;;;;;
"""


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _text(app, produce) -> str:
    with app.test_request_context():
        return "".join(produce())


def test_customers_with_contact_persons_and_per_row_errors(app):
    job, failures = run_file(app, "customers", encode(CUSTOMERS, "utf-8-sig"))
    assert job.status == ImportStatus.done
    assert (job.created, job.updated, job.unchanged, job.failed) == (2, 0, 0, 2)
    assert (job.rows_done, job.position) == (4, 5)
    assert failures == [(4, "Naam", "This field is required."), (5, "E-mail", "Enter a valid e-mail address.")]
    with app.app_context():
        jan = db.session.scalar(select(Customer).where(Customer.number == "K-1"))
        assert [t.name for t in jan.tags] == ["nl", "vip"]
        mies = db.session.scalar(select(Customer).where(Customer.number == "K-2"))
        assert mies.company_name == "Bakker & Zonen B.V." and mies.kind.value == "company"
        people = db.session.scalars(select(ContactPerson.email).where(ContactPerson.customer_id == mies.id)
                                    .order_by(ContactPerson.email)).all()
        assert people == ["anna@example.nl", "bert@example.nl"]


def test_reimporting_the_same_file_changes_nothing(app):
    data = encode(CUSTOMERS, "cp1252")
    run_file(app, "customers", data)
    before = _text(app, export.customers_csv)
    job, failures = run_file(app, "customers", data)
    assert (job.created, job.updated, job.unchanged, job.failed) == (0, 0, 2, 2)
    assert _count(app, Customer) == 2
    assert _text(app, export.customers_csv) == before


def test_a_customer_already_here_is_updated_never_duplicated(app):
    factories.customer(number="K-1", name="Old Name", email="old@example.nl")
    job, _ = run_file(app, "customers", encode(CUSTOMERS, "utf-8"))
    assert (job.created, job.updated) == (1, 1)
    with app.app_context():
        assert db.session.scalars(select(Customer.name).where(Customer.number == "K-1")).all() == ["Jan Jansen"]


def test_customer_export_round_trip_is_all_unchanged(app):
    run_file(app, "customers", encode(CUSTOMERS, "utf-8"))
    factories.customer(number="K-9", name="=HYPERLINK(\"http://evil.example\",\"klik\")", email="evil@example.nl")
    exported = _text(app, export.customers_csv)
    assert exported.startswith("\ufeffnumber,external_id,kind,name,")
    assert ",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"klik\"\")\"," in exported  # text, not a formula
    job, failures = run_file(app, "customers", exported.encode("utf-8"))
    assert failures == []
    assert (job.created, job.updated, job.unchanged) == (0, 0, 3)
    with app.app_context():  # the guard is gone again after the round trip
        assert db.session.scalar(select(Customer.name).where(Customer.number == "K-9")).startswith("=HYPERLINK")


DOCUMENTS = """Soort;Factuurnummer;Klantnummer;Factuurdatum;Vervaldatum;Omschrijving;Aantal;Prijs;BTW %
factuur;F-100;K-1;01.11.2026;01.12.2026;Consult;2;125,50;21
factuur;F-100;K-1;01.11.2026;01.12.2026;Reiskosten;1;1.234,56;9
factuur;F-101;K-1;02.11.2026;02.12.2026;Licentie;12;10;21
factuur;F-102;K-404;02.11.2026;02.12.2026;Licentie;1;10;21
factuur;F-103;K-1;02.11.2026;02.12.2026;Licentie;1;10,123;21
"""


def test_documents_with_lines_and_round_trip(app):
    factories.customer(number="K-1", name="Jan Jansen")
    job, failures = run_file(app, "documents", encode(DOCUMENTS, "cp1252"))
    assert (job.created, job.failed) == (2, 2), failures
    assert failures == [(5, "Klantnummer", "No customer has this number."), (6, "Prijs", "At most 2 decimals.")]
    with app.app_context():
        invoice = db.session.scalar(select(Document).where(Document.number == "F-100"))
        assert [(l.description, l.quantity, l.unit_price, l.vat_rate) for l in invoice.lines] == [
            ("Consult", Decimal("2.000"), Decimal("125.50"), Decimal("21.00")),
            ("Reiskosten", Decimal("1.000"), Decimal("1234.56"), Decimal("9.00"))]
        assert invoice.gross_total == Decimal("251.00") + Decimal("52.71") + Decimal("1234.56") + Decimal("111.11")
    again, _ = run_file(app, "documents", encode(DOCUMENTS, "cp1252"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    exported = _text(app, export.documents_csv)
    job, failures = run_file(app, "documents", exported.encode("utf-8"))
    assert failures == []
    assert (job.created, job.updated, job.unchanged) == (0, 0, 2)


def test_every_kind_exported_imports_back_unchanged(app):
    customer = factories.customer(number="K-1", name="Jan")
    invoice = factories.invoice(customer, amount="100.00")
    factories.document(customer, "quote", amount="55.00")
    factories.credit_note(invoice, amount="10.00")
    factories.reminder(customer, [invoice], fee="5.00")
    factories.document(customer, "order_confirmation")
    exported = _text(app, export.documents_csv)
    job, failures = run_file(app, "documents", exported.encode("utf-8"))
    assert failures == []
    assert (job.created, job.updated, job.unchanged) == (0, 0, 5)


def test_a_dry_run_writes_nothing_but_counts_and_reports(app):
    job, failures = run_file(app, "customers", encode(CUSTOMERS, "utf-8"), dry_run=True)
    assert job.dry_run and job.status == ImportStatus.done
    assert (job.created, job.failed) == (2, 2) and len(failures) == 2
    assert _count(app, Customer) == 0 and _count(app, ContactPerson) == 0


def test_a_refused_row_leaves_the_rest_of_its_batch(app):
    """Intake's refusal of row 4 rolls back that record only (its savepoint)."""
    job, failures = run_file(app, "customers", encode(CUSTOMERS, "utf-8"), batch_rows=500)
    assert job.created == 2 and _count(app, Customer) == 2 and [f[0] for f in failures] == [4, 5]


def test_a_failure_part_way_keeps_whole_batches_and_says_where_it_stopped(app):
    """The stored file breaks at row 26 (a quote never closed): the batches before it
    (rows 2-21, ten rows each) are committed, the one it is in is not, and the job says so."""
    rows = "".join(f"K-{i};Name {i}\n" for i in range(1, 41))
    good = encode("number;name\n" + rows, "utf-8")
    broken = good.replace(b"K-25;Name 25", b'K-25;"Name 25')
    with app.test_request_context():
        job = runner.create_job(None, "customers", "c.csv", io.BytesIO(good), 1 << 20)
        db.session.execute(update(ImportChunk).where(ImportChunk.job_id == job.id).values(data=broken))
        runner.queue_run(job, dry_run=False)
        db.session.commit()
        assert runner.claim(job.id)
        job = runner.run_job(job.id, batch_rows=10)
        assert job.status == ImportStatus.failed
        assert job.position == 21 and job.created == 20
        assert job.error.startswith("Stopped: Line 26: the file cannot be read as CSV")
        assert job.error.endswith("Rows up to 21 are imported; nothing after them.")
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 20
        # Running it again with the file fixed resumes nothing twice: all from the start, the first 20 unchanged.
        db.session.execute(update(ImportChunk).where(ImportChunk.job_id == job.id).values(data=good))
        runner.queue_run(job, dry_run=False)
        db.session.commit()
        assert runner.claim(job.id)
        job = runner.run_job(job.id, batch_rows=10)
        assert (job.status, job.created, job.unchanged) == (ImportStatus.done, 20, 20)


def test_a_worker_that_died_is_resumed_after_its_last_batch(app):
    rows = "".join(f"K-{i};Name {i}\n" for i in range(1, 31))
    with app.test_request_context():
        job = runner.create_job(None, "customers", "c.csv", io.BytesIO(encode("number;name\n" + rows, "utf-8")),
                                1 << 20)
        runner.queue_run(job, dry_run=False)
        db.session.commit()
        assert runner.claim(job.id)
        assert not runner.claim(job.id)  # one worker at a time
        # The first worker committed rows 2-11, then died (its heartbeat went stale).
        from models.db import now_utc
        db.session.execute(update(job.__class__).where(job.__class__.id == job.id).values(
            position=11, rows_done=10, created=10, heartbeat_at=now_utc() - runner.STALE_AFTER * 2))
        db.session.commit()
        assert runner.due_job_ids() == [job.id]
        assert runner.claim(job.id)
        job = runner.run_job(job.id, batch_rows=10)
        assert (job.status, job.rows_done, job.created) == (ImportStatus.done, 30, 30)
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 20  # rows 12-31 only


def _customer_rows(count: int, start: int = 0) -> bytes:
    """Customers with a contact person and tags; every fifth row refused (a bad address)."""
    rows = "".join(
        f"K-{i};Name {i};Firm {i} BV;bedrijf;{f'mail{i}@example.nl' if i % 5 else 'not an address'};NL;"
        f"Contact {i};c{i}@example.nl;vip, t{i % 3}\n" for i in range(start, start + count))
    return encode("Klantnummer;Naam;Bedrijfsnaam;Soort;E-mail;Land;Contactpersoon 1 naam;"
                  "Contactpersoon 1 e-mail;Tags\n" + rows, "utf-8")


def _batch_statements(app, data: bytes, kind: str = "customers") -> tuple[list[str], runner.ImportJob]:
    """The statements one import job of a single batch sends while it runs."""
    with app.test_request_context():
        job = runner.create_job(None, kind, "c.csv", io.BytesIO(data), 1 << 20)
        runner.queue_run(job, dry_run=False)
        db.session.commit()
        assert runner.claim(job.id)
        with count_queries(app) as sent:
            job = runner.run_job(job.id, batch_rows=500)
        db.session.expunge(job)
    return sent, job


def test_a_batch_sends_the_same_statements_whatever_its_size(app):
    """Set-based: a batch of 60 rows sends what a batch of 6 sends (new customers with contact
    persons, tags, audit rows and events, failed rows, the job's progress), and so does
    importing them again (all unchanged). SQLite's driver inserts a row at a time where the
    ORM needs ids back, so there only the statements other than INSERTs are counted."""
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"

    def counted(sent):
        return sent if postgresql else [s for s in sent if not s.lstrip().upper().startswith("INSERT")]

    run_file(app, "customers", _customer_rows(3, start=1001))  # the tags exist for both sizes
    small, small_job = _batch_statements(app, _customer_rows(6))
    large, large_job = _batch_statements(app, _customer_rows(60, start=100))
    assert (small_job.created, small_job.failed) == (4, 2) and (large_job.created, large_job.failed) == (48, 12)
    assert len(counted(small)) == len(counted(large)) <= 20
    again_small, small_job = _batch_statements(app, _customer_rows(6))
    again_large, large_job = _batch_statements(app, _customer_rows(60, start=100))
    assert (small_job.unchanged, large_job.unchanged) == (4, 48)
    assert len(again_small) == len(again_large) <= 16


def _invoice_rows(count: int, start: int = 0) -> bytes:
    rows = "".join(f"factuur;F-{i};K-1;01.11.2026;01.12.2026;Consult;2;125,50;21\n" for i in range(start, start + count))
    return encode("Soort;Factuurnummer;Klantnummer;Factuurdatum;Vervaldatum;Omschrijving;Aantal;Prijs;BTW %\n" + rows,
                  "utf-8")


def test_a_batch_of_new_invoices_sends_the_same_statements_whatever_its_size(app):
    """Documents go through intake.upsert_documents at once: their INSERTs are written
    together (on SQLite, where the driver inserts a row at a time, the rest is counted)."""
    factories.customer(number="K-1", name="Jan Jansen")
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"

    def counted(sent):
        return sent if postgresql else [s for s in sent if not s.lstrip().upper().startswith("INSERT")]

    small, small_job = _batch_statements(app, _invoice_rows(5), "documents")
    large, large_job = _batch_statements(app, _invoice_rows(50, start=100), "documents")
    assert (small_job.created, large_job.created) == (5, 50)
    assert len(counted(small)) == len(counted(large))
