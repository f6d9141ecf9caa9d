"""The upserts behind the REST API and the CSV import (models.services.intake)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.contacts import ContactPerson
from models.customers import Customer, CustomFieldDefinition
from models.db import db
from models.documents import Document, DocumentStatus
from models.services.errors import DomainError
from models.services.intake import upsert_customer, upsert_document

LABEL = "API key “Exact”"

CUSTOMER = {
    "external_id": "EXT-1", "number": "K100", "kind": "company", "name": "Ann Smith",
    "company_name": "Smith BV", "email": "ann@smith.example", "country": "NL", "language": "nl",
    "tags": ["vip", "Wholesale"],
    "contact_persons": [
        {"name": "Bob", "email": "bob@smith.example", "role": "billing"},
        {"name": "Cas", "email": "cas@smith.example", "invoice_emails": False},
    ],
}
INVOICE = {
    "kind": "invoice", "external_id": "INV-EXT-1", "number": "2026-0001", "customer_external_id": "EXT-1",
    "issue_date": "2026-11-01", "due_date": "2026-12-01", "currency": "EUR",
    "lines": [
        {"description": "Consulting", "quantity": "2.5", "unit_price": "100.00", "vat_rate": "21"},
        {"description": "Travel", "quantity": 1, "unit_price": Decimal("19.99"), "vat_rate": 0},
    ],
}


def run(app, fn, data):
    with app.app_context():
        try:
            record, outcome = fn(dict(data), actor_label=LABEL)
            db.session.commit()
            return record.id, outcome
        except DomainError:
            db.session.rollback()
            raise


def error_of(app, fn, data) -> DomainError:
    with pytest.raises(DomainError) as caught:
        run(app, fn, data)
    return caught.value


def test_customer_created_then_unchanged_then_updated(app):
    customer_id, outcome = run(app, upsert_customer, CUSTOMER)
    assert outcome == "created"
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        assert (customer.number, customer.external_id, customer.display_name) == ("K100", "EXT-1", "Smith BV")
        assert [t.name for t in customer.tags] == ["vip", "wholesale"]
        assert sorted(c.email for c in db.session.scalars(select(ContactPerson))) == [
            "bob@smith.example", "cas@smith.example"]
        updated_at = customer.updated_at
        labels = set(db.session.scalars(select(AuditEvent.actor_label)))
        assert labels == {LABEL}
        audit_count = db.session.scalar(select(func.count()).select_from(AuditEvent))

    assert run(app, upsert_customer, CUSTOMER) == (customer_id, "unchanged")
    with app.app_context():
        assert db.session.get(Customer, customer_id).updated_at == updated_at
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audit_count

    changed = {**CUSTOMER, "city": "Utrecht",
               "contact_persons": [{"name": "Bob B.", "email": "BOB@smith.example", "role": "billing"}]}
    assert run(app, upsert_customer, changed) == (customer_id, "updated")
    with app.app_context():
        assert db.session.get(Customer, customer_id).city == "Utrecht"
        assert [(c.name, c.email) for c in db.session.scalars(select(ContactPerson))] == [
            ("Bob B.", "BOB@smith.example")]
    assert run(app, upsert_customer, changed) == (customer_id, "unchanged")


def test_customer_matched_by_number_gets_external_id(app):
    customer_id, _ = run(app, upsert_customer, {"number": "K7", "name": "Piet"})
    assert run(app, upsert_customer, {"number": "k7", "external_id": "E7", "name": "Piet"}) == (customer_id, "updated")
    assert run(app, upsert_customer, {"external_id": "E7"}) == (customer_id, "unchanged")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 1


def test_customer_number_of_another_external_id_is_refused(app):
    run(app, upsert_customer, {"number": "K7", "external_id": "A", "name": "Piet"})
    assert error_of(app, upsert_customer, {"number": "K7", "external_id": "B", "name": "Jan"}).field == "number"


def test_custom_fields_by_label(app):
    with app.app_context():
        db.session.add_all([CustomFieldDefinition(label="Region", kind="text"),
                            CustomFieldDefinition(label="Limit", kind="number"),
                            CustomFieldDefinition(label="Since", kind="date")])
        db.session.commit()
    data = {"external_id": "C", "name": "X", "custom_fields": {"Region": "North", "Limit": "1500.5", "Since": "2020-01-31"}}
    run(app, upsert_customer, data)
    assert run(app, upsert_customer, data)[1] == "unchanged"
    assert run(app, upsert_customer, {**data, "custom_fields": {"Region": None}})[1] == "updated"
    assert error_of(app, upsert_customer, {**data, "custom_fields": {"Nope": "1"}}).field == "custom_fields.Nope"
    assert error_of(app, upsert_customer, {**data, "custom_fields": {"Limit": "lots"}}).field == "custom_fields.Limit"
    assert error_of(app, upsert_customer, {**data, "custom_fields": {"Since": "31-01-2020"}}).field == "custom_fields.Since"


@pytest.mark.parametrize("data, field", [
    ({"name": ""}, "name"),
    ({}, "name"),
    ({"name": "A", "shoe_size": 42}, "shoe_size"),
    ({"name": "A", "email": "not-an-address"}, "email"),
    ({"name": "A", "country": "XX"}, "country"),
    ({"name": "A", "language": "fr"}, "language"),
    ({"name": "A", "iban": "NL00BANK0000000000"}, "iban"),
    ({"name": "A", "kind": "company"}, "company_name"),
    ({"name": "A", "number": "no spaces"}, "number"),
    ({"name": "A", "tags": "vip"}, "tags"),
    ({"name": "A", "tags": [f"t{i}" for i in range(11)]}, "tags"),
    ({"name": "A", "portal_access": "maybe"}, "portal_access"),
    ({"name": "A", "contact_persons": [{"name": "B", "email": f"b{i}@x.example"} for i in range(11)]}, "contact_persons"),
    ({"name": "A", "contact_persons": [{"name": "B", "email": "nope"}]}, "contact_persons[0].email"),
    ({"name": "A", "contact_persons": [{"name": "B", "email": "b@x.example", "role": "boss"}]}, "contact_persons[0].role"),
    ({"name": "A", "contact_persons": [{"name": "B", "email": "b@x.example", "age": 3}]}, "contact_persons[0].age"),
    ({"name": "A", "email": "a@x.example", "contact_persons": [{"name": "B", "email": "A@x.example"}]},
     "contact_persons[0].email"),
])
def test_bad_customer_input_names_the_field(app, data, field):
    assert error_of(app, upsert_customer, data).field == field
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_invoice_created_then_unchanged_then_updated(app):
    run(app, upsert_customer, CUSTOMER)
    document_id, outcome = run(app, upsert_document, INVOICE)
    assert outcome == "created"
    with app.app_context():
        invoice = db.session.get(Document, document_id)
        assert invoice.number == "2026-0001"  # the package's own number is kept
        assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (
            Decimal("269.99"), Decimal("52.50"), Decimal("322.49"))
        assert invoice.status == DocumentStatus.open and invoice.external_id == "INV-EXT-1"
        updated_at = invoice.updated_at
    assert run(app, upsert_document, INVOICE) == (document_id, "unchanged")
    with app.app_context():
        assert db.session.get(Document, document_id).updated_at == updated_at

    paid = {**INVOICE, "status": "paid"}
    assert run(app, upsert_document, paid) == (document_id, "updated")
    with app.app_context():
        invoice = db.session.get(Document, document_id)
        assert (invoice.status, invoice.amount_paid) == (DocumentStatus.paid, Decimal("322.49"))
    assert run(app, upsert_document, paid) == (document_id, "unchanged")

    more = {**paid, "lines": [*INVOICE["lines"], {"description": "Extra", "quantity": "1", "unit_price": "10",
                                                  "vat_rate": "21"}]}
    more.pop("status")
    assert run(app, upsert_document, more) == (document_id, "updated")
    with app.app_context():
        invoice = db.session.get(Document, document_id)
        assert invoice.gross_total == Decimal("334.59") and invoice.status == DocumentStatus.partially_paid
        assert len(invoice.lines) == 3


def test_documents_matched_by_number_and_every_kind(app):
    run(app, upsert_customer, CUSTOMER)
    invoice_id, _ = run(app, upsert_document, {**INVOICE, "external_id": None})
    assert run(app, upsert_document, {**INVOICE})[0] == invoice_id  # the number found it, the id is adopted
    for kind, extra in [("quote", {"valid_until": "2026-12-01", "status": "accepted"}),
                        ("order_confirmation", {}), ("delivery_note", {})]:
        data = {**INVOICE, "kind": kind, "external_id": f"X-{kind}", **extra}
        data.pop("due_date")
        assert run(app, upsert_document, data)[1] == "created"
        assert run(app, upsert_document, data)[1] == "unchanged"
    credit = {"kind": "credit_note", "number": "CN-1", "customer_number": "K100", "issue_date": "2026-11-05",
              "related_number": "2026-0001",
              "lines": [{"description": "Discount", "quantity": "1", "unit_price": "22.49", "vat_rate": "0"}]}
    assert run(app, upsert_document, credit)[1] == "created"
    assert run(app, upsert_document, credit)[1] == "unchanged"
    reminder = {"kind": "reminder", "number": "R-1", "customer_number": "K100", "issue_date": "2026-12-10",
                "invoice_numbers": ["2026-0001"], "fee": "15.00", "reminder_level": 2}
    assert run(app, upsert_document, reminder)[1] == "created"
    assert run(app, upsert_document, reminder)[1] == "unchanged"
    with app.app_context():
        invoice = db.session.get(Document, invoice_id)
        assert invoice.amount_credited == Decimal("22.49")


def test_totals_only_and_draft_and_cancelled(app):
    run(app, upsert_customer, CUSTOMER)
    data = {**INVOICE, "lines": None, "totals": {"net": "100.00", "tax": "21.00", "gross": "121.00"},
            "status": "draft", "released_to_portal": False}
    document_id, outcome = run(app, upsert_document, data)
    assert outcome == "created"
    assert run(app, upsert_document, data)[1] == "unchanged"
    assert run(app, upsert_document, {**data, "status": "open"})[1] == "updated"
    assert run(app, upsert_document, {**data, "status": "cancelled"})[1] == "updated"
    with app.app_context():
        invoice = db.session.get(Document, document_id)
        assert (invoice.status, invoice.gross_total, invoice.lines, invoice.released_to_portal) == (
            DocumentStatus.cancelled, Decimal("121.00"), [], False)
    assert error_of(app, upsert_document, {**data, "status": "open"}).field == "status"


@pytest.mark.parametrize("change, field", [
    ({"lines": [{"description": "A", "quantity": "1", "unit_price": "1.005", "vat_rate": "21"}]}, "lines[0].unit_price"),
    ({"lines": [{"description": "A", "quantity": "1.0001", "unit_price": "1", "vat_rate": "21"}]}, "lines[0].quantity"),
    ({"lines": [{"description": "A", "quantity": "x", "unit_price": "1", "vat_rate": "21"}]}, "lines[0].quantity"),
    ({"lines": [{"description": "A", "quantity": "1", "unit_price": "NaN", "vat_rate": "21"}]}, "lines[0].unit_price"),
    ({"lines": [{"description": "A", "quantity": "1", "unit_price": "1", "vat_rate": "121"}]}, "lines[0].vat_rate"),
    ({"lines": [{"description": "", "quantity": "1", "unit_price": "1", "vat_rate": "21"}]}, "lines[0].description"),
    ({"lines": [{"description": "A", "quantity": "1", "unit_price": "1", "vat_rate": "21", "sku": 1}]}, "lines[0].sku"),
    ({"lines": []}, "lines"),
    ({"lines": None}, "lines"),
    ({"currency": "XYZ"}, "currency"),
    ({"customer_external_id": "nobody"}, "customer_external_id"),
    ({"customer_number": "K999"}, "customer_number"),  # EXT-1 is K100: which customer was meant?
    ({"kind": "receipt"}, "kind"),
    ({"status": "paid", "amount_paid": "5.00"}, "amount_paid"),
    ({"status": "partially_paid"}, "amount_paid"),
    ({"status": "expired"}, "status"),
    ({"issue_date": "01-11-2026"}, "issue_date"),
    ({"due_date": "2026-10-01"}, "due_date"),
    ({"totals": {"net": "1.00", "tax": "0.21", "gross": "9.99"}}, "totals.gross"),
    ({"totals": {"net": "100.00", "tax": "21.00", "gross": "121.00"}}, "totals"),
    ({"notes": 5}, "notes"),
    ({"unknown": 1}, "unknown"),
])
def test_bad_document_input_names_the_field(app, change, field):
    run(app, upsert_customer, CUSTOMER)
    assert error_of(app, upsert_document, {**INVOICE, **change}).field == field
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


def test_number_clash_on_another_external_id(app):
    run(app, upsert_customer, CUSTOMER)
    run(app, upsert_document, INVOICE)
    assert error_of(app, upsert_document, {**INVOICE, "external_id": "OTHER"}).field == "number"


def test_a_new_total_below_what_is_settled_is_refused(app):
    """Lines lowering a paid invoice's total below the money received left amount_paid above
    the total (an overpaid "paid" invoice, a negative outstanding amount)."""
    run(app, upsert_customer, CUSTOMER)
    document_id, _ = run(app, upsert_document, {**INVOICE, "status": "partially_paid", "amount_paid": "100.00"})
    error = error_of(app, upsert_document, {
        **INVOICE, "lines": [{"description": "Consulting", "quantity": "1", "unit_price": "50.00", "vat_rate": "21"}]})
    assert error.field == "lines" and "100.00" in str(error.message)
    error = error_of(app, upsert_document, {**INVOICE, "lines": None,
                                            "totals": {"net": "10.00", "tax": "0.00", "gross": "10.00"}})
    assert error.field == "totals"
    with app.app_context():
        invoice = db.session.get(Document, document_id)
        assert (invoice.gross_total, invoice.amount_paid) == (Decimal("322.49"), Decimal("100.00"))
    # Down to exactly what is paid is fine: the invoice is then paid.
    assert run(app, upsert_document, {**INVOICE, "lines": None,
                                      "totals": {"net": "100.00", "tax": "0.00", "gross": "100.00"}})[1] == "updated"
    with app.app_context():
        assert db.session.get(Document, document_id).status == DocumentStatus.paid


def test_cancelling_an_invoice_with_payments_names_the_status(app):
    run(app, upsert_customer, CUSTOMER)
    run(app, upsert_document, {**INVOICE, "status": "partially_paid", "amount_paid": "100.00"})
    assert error_of(app, upsert_document, {**INVOICE, "status": "cancelled"}).field == "status"
