"""intake.upsert_documents, the documents' batch door (POST /api/v1/documents/batch): the
same results as upsert_document record by record, with the new documents of a batch
written together, in a constant number of statements per batch."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter as Multiset
from decimal import Decimal

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.documents import Document, DocumentLine
from models.events import Event
from models.payments import CustomerCredit, Payment
from models.services import credits
from models.services.errors import DomainError
from models.services.intake import prefetch_documents, upsert_customer, upsert_document, upsert_documents
from tests.conftest import count_queries

LABEL = "API key “bench”"
CUSTOMERS = ["E1", "E2", "E3"]  # E2 has 50.00 EUR of credit
INVOICE_NUMBERS = ["INV-1", "INV-2", "INV-3", "INV-4", "OLD-1"]


def lines(rng: random.Random) -> list[dict]:
    return [{"description": rng.choice(["Work", "Parts"]), "quantity": str(rng.randint(1, 3)),
             "unit_price": rng.choice(["10.00", "19.99", "120.50"]), "vat_rate": rng.choice(["21", "9", "0"])}
            for _ in range(rng.randint(1, 3))]


def random_record(rng: random.Random) -> dict:
    """A record as the package sends it: new or known invoices (some paid outside Dossier),
    quotes, credit notes and reminders naming invoices of this batch or of before."""
    customer = rng.choice(CUSTOMERS)
    roll = rng.random()
    if roll < 0.6:
        number = rng.choice(INVOICE_NUMBERS)
        record = {"kind": "invoice", "external_id": f"X-{number}", "number": number,
                  "customer_external_id": "E1" if number == "OLD-1" else customer,
                  "issue_date": "2026-11-01", "due_date": "2026-12-01", "lines": lines(rng)}
        status = rng.choice([None, None, "paid", "partially_paid", "cancelled", "draft"])
        if status == "partially_paid":
            record["amount_paid"] = "1.00"
        if status:
            record["status"] = status
        return record
    if roll < 0.75:
        return {"kind": "quote", "number": f"Q-{rng.randint(1, 3)}", "customer_external_id": customer,
                "issue_date": "2026-11-01", "valid_until": "2026-12-31", "lines": lines(rng),
                **({"status": "accepted"} if rng.random() < 0.3 else {})}
    if roll < 0.88:
        return {"kind": "credit_note", "number": f"CN-{rng.randint(1, 9)}", "customer_external_id": "E1",
                "issue_date": "2026-11-02", "related_number": "OLD-1",
                "lines": [{"description": "Refund", "quantity": "1", "unit_price": "5.00", "vat_rate": "21"}]}
    return {"kind": "reminder", "number": f"R-{rng.randint(1, 9)}", "customer_external_id": "E1",
            "issue_date": "2026-12-03", "invoice_numbers": ["OLD-1"]}


def seed(app) -> None:
    with app.app_context():
        for external_id in CUSTOMERS:
            upsert_customer({"external_id": external_id, "name": f"Customer {external_id}"}, actor_label="seed")
        db.session.flush()
        e2 = db.session.scalar(select(Customer).where(Customer.external_id == "E2"))
        credits.add(e2.id, Decimal("50.00"), "EUR", credits.OVERPAYMENT)
        upsert_document({"kind": "invoice", "external_id": "X-OLD-1", "number": "OLD-1", "customer_external_id": "E1",
                         "issue_date": "2026-10-01", "due_date": "2026-10-31",
                         "lines": [{"description": "Old", "quantity": "1", "unit_price": "500.00", "vat_rate": "21"}]},
                        actor_label="seed")
        db.session.commit()


def state() -> dict:
    """Everything the upserts leave, without ids (which differ between the two ways)."""
    numbers = {c.id: c.number for c in db.session.scalars(select(Customer))}
    documents = {d.id: d for d in db.session.scalars(select(Document))}
    by_number = {
        (d.kind.value, d.number): (d.external_id, numbers[d.customer_id], d.status.value, d.gross_total, d.amount_paid,
                                   d.amount_credited, d.issue_date, d.due_date,
                                   tuple((line.description, line.quantity, line.unit_price, line.vat_rate)
                                         for line in db.session.scalars(select(DocumentLine).where(
                                             DocumentLine.document_id == d.id).order_by(DocumentLine.position))))
        for d in documents.values()}
    audits = Multiset((a.action, a.actor_label, numbers.get(a.customer_id), json.dumps(a.changes, sort_keys=True))
                      for a in db.session.scalars(select(AuditEvent)))
    payments = Multiset((numbers[p.customer_id], p.amount, p.method, p.status.value)
                        for p in db.session.scalars(select(Payment)))
    credit = Multiset((numbers[c.customer_id], c.amount, c.reason) for c in db.session.scalars(select(CustomerCredit)))
    events = Multiset((e.type, numbers.get(e.customer_id)) for e in db.session.scalars(select(Event)))
    return {"documents": by_number, "audit": audits, "payments": payments, "credit": credit, "events": events}


def outcome_of(result) -> tuple:
    document, outcome = result
    return (outcome, document.kind.value, document.number)


def both_ways(app, batch: list[dict]):
    """The batch record by record, then (that rolled back) at once: (outcomes, state) of
    each; a refused record: its error instead of the outcomes."""
    results = []
    with app.app_context():
        for way in ("one by one", "at once"):
            try:
                if way == "one by one":
                    outcomes = [outcome_of(upsert_document(copy.deepcopy(r), actor_label=LABEL)) for r in batch]
                else:
                    records = copy.deepcopy(batch)
                    prefetch_documents(records)
                    outcomes = [outcome_of(r) for r in upsert_documents(records, actor_label=LABEL)]
                db.session.flush()
                results.append((outcomes, state()))
            except DomainError as error:
                results.append((("refused", error.field, str(error.message)), None))
            db.session.rollback()
    return results


@pytest.mark.parametrize("seed_value", range(16))
def test_random_batches_give_what_one_by_one_gives(app, seed_value):
    seed(app)
    rng = random.Random(seed_value)
    batch = [random_record(rng) for _ in range(rng.randint(2, 30))]
    (outcomes, one), (outcomes_batch, at_once) = both_ways(app, batch)
    assert outcomes_batch == outcomes
    assert at_once == one


def test_credit_and_paid_status_in_one_batch(app):
    seed(app)
    batch = [
        {"kind": "invoice", "number": "A-1", "customer_external_id": "E2", "issue_date": "2026-11-01",
         "due_date": "2026-12-01", "lines": [{"description": "A", "quantity": "1", "unit_price": "100.00", "vat_rate": "0"}]},
        {"kind": "invoice", "number": "A-2", "customer_external_id": "E1", "issue_date": "2026-11-01", "status": "paid",
         "due_date": "2026-12-01", "lines": [{"description": "B", "quantity": "1", "unit_price": "10.00", "vat_rate": "0"}]},
        {"kind": "invoice", "number": "A-1", "customer_external_id": "E2", "issue_date": "2026-11-01",
         "due_date": "2026-12-15", "lines": [{"description": "A", "quantity": "1", "unit_price": "100.00", "vat_rate": "0"}]},
    ]
    (outcomes, one), (outcomes_batch, at_once) = both_ways(app, batch)
    assert outcomes_batch == outcomes == [("created", "invoice", "A-1"), ("created", "invoice", "A-2"),
                                          ("updated", "invoice", "A-1")]
    assert at_once == one
    a1 = at_once["documents"][("invoice", "A-1")]
    assert (a1[2], a1[4]) == ("partially_paid", Decimal("50.00"))  # E2's credit settled half of it
    assert at_once["documents"][("invoice", "A-2")][2] == "paid"


def test_a_refused_record_is_named_by_its_place(app):
    seed(app)
    good = {"kind": "invoice", "number": "G-1", "customer_external_id": "E1", "issue_date": "2026-11-01",
            "due_date": "2026-12-01", "lines": [{"description": "A", "quantity": "1", "unit_price": "1.00", "vat_rate": "0"}]}
    bad = dict(good, number="G-2", lines=[{"description": "A", "quantity": "1", "unit_price": "1.001", "vat_rate": "0"}])
    with app.app_context():
        with pytest.raises(DomainError) as refused:
            upsert_documents([good, bad], actor_label=LABEL, name="documents")
        assert refused.value.field == "documents[1].lines[0].unit_price"
        db.session.rollback()


def new_invoices(count: int, start: int = 0) -> list[dict]:
    return [{"kind": "invoice", "external_id": f"N-{i}", "number": f"N-{i:05d}", "customer_external_id": ("E1", "E3")[i % 2],
             "issue_date": "2026-11-01", "due_date": "2026-12-01",
             "lines": [{"description": "Work", "quantity": "2", "unit_price": "10.00", "vat_rate": "21"},
                       {"description": "Parts", "quantity": "1", "unit_price": "5.50", "vat_rate": "9"}]}
            for i in range(start, start + count)]


def statements(app, records: list[dict]) -> list[str]:
    with app.app_context():
        with count_queries(app) as sent:
            prefetch_documents(records)
            upsert_documents(records, actor_label=LABEL, name="documents")
            db.session.flush()
        db.session.commit()
    return sent


def test_statements_per_batch_do_not_grow_with_its_size(app):
    """New invoices: one INSERT for the documents, one for their lines, one for the audit
    lines, one look at the customers' credit (they have none), however many. (SQLite's driver sends an
    INSERT … RETURNING per row where the ORM needs the new ids back in order.)"""
    seed(app)
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"

    def reads(sent):
        return [s for s in sent if not s.lstrip().upper().startswith("INSERT")]

    small, large = statements(app, new_invoices(5)), statements(app, new_invoices(60, start=5))
    assert len(reads(small)) == len(reads(large)) <= 8
    if postgresql:
        assert len(small) == len(large) <= 12
    again_small, again_large = statements(app, new_invoices(5)), statements(app, new_invoices(60, start=5))
    assert len(again_small) == len(again_large) <= 6  # all unchanged: reads only
    assert not [s for s in again_large if not s.lstrip().upper().startswith("SELECT")]
