"""Bank statement import (CAMT.053): transfers matched by RF reference and by invoice
number plus amount are booked as recorded bank transfers, partial ones partially; the rest
waits for staff to assign; a statement imported again books nothing twice; files that are
not CAMT.053 are refused with a message and nothing is booked."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.bank_statements import BankStatement, BankStatementEntry, EntryStatus
from models.db import db
from models.documents import Document, DocumentStatus
from models.payments import CustomerCredit, Payment
from tests import factories
from tests.conftest import field_error, soup_of

URL = "/admin/bank-statements"
FIXTURE = (Path(__file__).parent / "fixtures" / "camt053_december.xml").read_bytes()
ISSUED = date(2026, 11, 2)


def upload(staff, data: bytes, filename: str = "statement.xml"):
    return staff.post(URL, data={"statement": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


@pytest.fixture
def invoices(app):
    """The open invoices the fixture's transfers name (numbers kept from the old system)."""
    anna = factories.customer(name="Anna Archer", language="en")
    bram = factories.customer(name="Bram Baker", language="en")
    cees = factories.customer(name="Cees Cooper", language="en")
    made = {}
    for number, customer, amount in (("INV-1001", anna, "121.00"), ("INV-1002", bram, "250.00"),
                                     ("INV-1003", cees, "100.00"), ("INV-1004", anna, "300.00")):
        made[number] = factories.document(customer, "invoice", amount=amount, vat="0", issue_date=ISSUED,
                                          number=number).id
    return made


def state(app) -> dict:
    with app.app_context():
        invoices = {d.number: (d.status.value, d.outstanding) for d in db.session.scalars(
            select(Document).where(Document.number.like("INV-%")))}
        payments = [(p.amount, p.provider, p.method, p.items[0].document_id) for p in db.session.scalars(
            select(Payment).order_by(Payment.id))]
        entries = db.session.scalar(select(func.count()).select_from(BankStatementEntry))
        statements = db.session.scalar(select(func.count()).select_from(BankStatement))
        return {"invoices": invoices, "payments": payments, "entries": entries, "statements": statements}


# What the fixture statement (and its MT940 twins, test_mt940_statements.py) books.
BOOKED = {
    "INV-1001": ("paid", Decimal("0.00")),  # by its RF reference
    "INV-1002": ("paid", Decimal("0.00")),  # by its number and the exact amount
    "INV-1003": ("partially_paid", Decimal("60.00")),  # 40.00 of 100.00, by RF
    "INV-1004": ("open", Decimal("300.00")),
}


def assert_result_page(soup) -> None:
    """The page after the upload says what the fixture statement did and lists what waits."""
    message = soup.get_text(" ")
    assert "3 transfers booked." in message and "2 transfers wait for you to assign them." in message
    assert "1 transfer was imported before and was skipped." in message
    rows = soup.find(id="unmatched").find("tbody").find_all("tr")
    assert [row.find(class_="num").get_text(strip=True) for row in rows] == ["€77.77", "€99.00"]
    assert len(soup.find(id="statement-entries").find("tbody").find_all("tr")) == 5


def booked_payments(invoices) -> list[tuple]:
    return [(Decimal("121.00"), "manual", "bank_transfer", invoices["INV-1001"]),
            (Decimal("250.00"), "manual", "bank_transfer", invoices["INV-1002"]),
            (Decimal("40.00"), "manual", "bank_transfer", invoices["INV-1003"])]


def test_the_statement_books_matched_transfers_and_lists_the_rest(app, owner, owner_client, invoices):
    response = upload(owner_client, FIXTURE)
    assert response.status_code == 302
    now = state(app)
    assert now["invoices"] == BOOKED
    assert now["payments"] == booked_payments(invoices)
    with app.app_context():
        entries = db.session.scalars(select(BankStatementEntry).order_by(BankStatementEntry.id)).all()
        assert [(e.status, e.matched_by, e.amount) for e in entries] == [
            (EntryStatus.matched, "rf", Decimal("121.00")), (EntryStatus.matched, "number", Decimal("250.00")),
            (EntryStatus.matched, "rf", Decimal("40.00")), (EntryStatus.unmatched, None, Decimal("77.77")),
            (EntryStatus.unmatched, None, Decimal("99.00"))]
        assert entries[0].debtor_name == "Anna Archer" and entries[0].debtor_iban == "NL02RABO0123456789"
        assert "INV-1002" in entries[4].note
        # booked through recorded_payments: each payment is audited as one staff recorded
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "payment.recorded")) == 3
        assert {p.recorded_by_id for p in db.session.scalars(select(Payment))} == {owner.id}
    assert_result_page(soup_of(owner_client.get(response.headers["Location"])))


def test_importing_the_same_statement_again_books_nothing(app, owner_client, invoices):
    assert upload(owner_client, FIXTURE).status_code == 302
    before = state(app)
    again = upload(owner_client, FIXTURE, "statement-copy.xml")
    assert again.status_code == 409
    assert field_error(soup_of(again), "Bank statement").startswith("This statement was already imported on")
    # the same transfers in another file (the bank exported it again, with another id)
    other = FIXTURE.replace(b"<Id>STMT-2026-12-01</Id>", b"<Id>STMT-2026-12-01-B</Id>")
    response = upload(owner_client, other)
    assert response.status_code == 409
    assert field_error(soup_of(response), "Bank statement") == \
        "Every transfer on this statement was imported before: nothing was booked again."
    assert state(app) == before


def test_a_later_statement_repeating_transfers_books_only_the_new_ones(app, owner_client, invoices):
    assert upload(owner_client, FIXTURE).status_code == 302
    new_entry = b"""<Ntry><Amt Ccy="EUR">60.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
      <BookgDt><Dt>2026-12-02</Dt></BookgDt><AcctSvcrRef>2026120200001</AcctSvcrRef>
      <NtryDtls><TxDtls><RmtInf><Strd><CdtrRefInf><Ref>RF49INV1003</Ref></CdtrRefInf></Strd></RmtInf></TxDtls></NtryDtls>
      </Ntry></Stmt>"""
    later = FIXTURE.replace(b"<Id>STMT-2026-12-01</Id>", b"<Id>STMT-2026-12-02</Id>").replace(b"</Stmt>", new_entry)
    response = upload(owner_client, later)
    assert response.status_code == 302
    assert state(app)["invoices"]["INV-1003"] == ("paid", Decimal("0.00"))
    assert len(state(app)["payments"]) == 4
    text = soup_of(owner_client.get(response.headers["Location"])).get_text(" ")
    assert "1 transfer booked." in text and "6 transfers were imported before and were skipped." in text


def test_staff_assign_a_waiting_transfer_partially_and_confirm_credit(app, owner_client, invoices):
    upload(owner_client, FIXTURE)
    with app.app_context():
        waiting = {e.amount: e.id for e in db.session.scalars(
            select(BankStatementEntry).where(BankStatementEntry.status == EntryStatus.unmatched))}
    gift = waiting[Decimal("77.77")]
    response = owner_client.post(f"{URL}/assign", data={"entry_id": gift, f"e{gift}-invoice_number": "INV-4711"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Invoice number") == "There is no invoice with this number."
    response = owner_client.post(f"{URL}/assign", data={"entry_id": gift, f"e{gift}-invoice_number": "INV-1004"})
    assert response.status_code == 302
    assert state(app)["invoices"]["INV-1004"] == ("partially_paid", Decimal("222.23"))
    # booked once: a second assignment is refused
    again = owner_client.post(f"{URL}/assign", data={"entry_id": gift, f"e{gift}-invoice_number": "INV-1004"})
    assert again.status_code == 422 and state(app)["invoices"]["INV-1004"][1] == Decimal("222.23")

    extra = waiting[Decimal("99.00")]  # INV-1002 is paid already: only as customer credit
    response = owner_client.post(f"{URL}/assign", data={"entry_id": extra, f"e{extra}-invoice_number": "INV-1002"})
    assert response.status_code == 422
    soup = soup_of(response)
    assert "Confirm, and the rest becomes customer credit." in field_error(soup, "Invoice number")
    response = owner_client.post(f"{URL}/assign", data={"entry_id": extra, f"e{extra}-invoice_number": "INV-1002",
                                                        f"e{extra}-confirm_credit": "y"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.sum(CustomerCredit.amount))) == Decimal("99.00")
        assert db.session.get(BankStatementEntry, extra).status == EntryStatus.assigned
    assert soup_of(owner_client.get(URL)).find(id="unmatched") is None


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>&lol3;</BkToCstmrStmt></Document>"""


@pytest.mark.parametrize("data,message", [
    (b"Booking date;Amount\n2026-12-01;121.00\n", "This is not a bank statement Dossier can read"),
    (BOMB, "This is not a bank statement Dossier can read"),
    (FIXTURE.replace(b"camt.053.001.02", b"camt.052.001.02"), "This is not a bank statement Dossier can read"),
    (b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>',
     "This is not a bank statement Dossier can read"),
    (FIXTURE.replace(b">121.00<", b">12x.00<", 1), "An amount on the statement is not a number"),
    (b"", "Choose the statement file to import."),
], ids=["csv", "xml-bomb", "camt052", "no-statement", "bad-amount", "empty"])
def test_a_file_that_is_not_a_camt053_statement_is_refused_and_nothing_booked(app, owner_client, invoices, data,
                                                                               message):
    before = state(app)
    response = upload(owner_client, data)
    assert response.status_code == 422
    assert field_error(soup_of(response), "Bank statement").startswith(message)
    assert state(app) == before


def test_employees_may_not_import(app, employee_client, invoices):
    assert employee_client.get(URL).status_code == 403
    assert upload(employee_client, FIXTURE).status_code == 403
    assert state(app)["payments"] == []


def test_the_page_runs_the_same_queries_for_many_transfers(app, owner_client, invoices):
    """The waiting transfers, the shown statement's entries and the list: one query each,
    however many there are."""
    from tests.conftest import count_queries

    def queries(data: bytes) -> int:
        location = upload(owner_client, data).headers["Location"]
        owner_client.get(location)  # the flash is shown once
        with count_queries(app) as statements:
            assert owner_client.get(location).status_code == 200
        return len(statements)

    few = queries(FIXTURE)
    entries = b"".join(
        b'<Ntry><Amt Ccy="EUR">1.%02d</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-12-03</Dt>'
        b"</BookgDt><AcctSvcrRef>MANY-%d</AcctSvcrRef></Ntry>" % (n, n) for n in range(30))
    many = FIXTURE.replace(b"<Id>STMT-2026-12-01</Id>", b"<Id>STMT-MANY</Id>").replace(b"</Stmt>", entries + b"</Stmt>")
    assert queries(many) == few
