"""Bank statement import in MT940, the same way as CAMT.053 (tests/bank/test_bank_statements.py):
the format is read from the content; transfers matched by RF reference and by invoice number
plus amount are booked, partial ones partially; the rest waits for staff; a statement imported
again books nothing twice; a file that is neither format is refused and nothing is booked.

Two fixtures carry the CAMT fixture's transfers: a Dutch bank's (the structured
`/EREF/…/CNTP/…/REMI/` details, CRLF, SWIFT envelope) and a German bank's (the `?20…?32`
details, Windows-1252, a BLZ/account number instead of an IBAN), both written by
tests/bank/fixtures/make_mt940.py.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from models.bank_statements import BankStatement, BankStatementEntry, EntryStatus
from models.db import db
from tests.bank.test_bank_statements import (  # noqa: F401 (invoices: the fixture)
    BOOKED,
    assert_result_page,
    FIXTURE as CAMT053,
    booked_payments,
    invoices,
    state,
    upload,
)
from tests.conftest import field_error, soup_of

FIXTURES = Path(__file__).parent / "fixtures"
DUTCH = (FIXTURES / "mt940_december_nl.sta").read_bytes()
GERMAN = (FIXTURES / "mt940_december_de.sta").read_bytes()
STATEMENTS = {"dutch": (DUTCH, "STMT-2026-12-01", "NL91ABNA0417164300"),
              "german": (GERMAN, "STARTUMS", "37040044/0532013000")}
NOT_READABLE = "This is not a bank statement Dossier can read"


def entries(app) -> list[BankStatementEntry]:
    with app.app_context():
        rows = db.session.scalars(select(BankStatementEntry).order_by(BankStatementEntry.id)).all()
        db.session.expunge_all()
        return rows


def mt940(*lines: str, reference: str = "STMT-X", account: str = "NL91ABNA0417164300") -> bytes:
    """A small MT940 statement around the given :61:/:86: lines."""
    return "\r\n".join([f":20:{reference}", f":25:{account}", ":28C:1/1", ":60F:C261130EUR0,00", *lines,
                        ":62F:C261201EUR0,00", "-"]).encode()


@pytest.mark.parametrize("bank", STATEMENTS)
def test_the_statement_books_matched_transfers_and_lists_the_rest(app, owner, owner_client, invoices, bank):
    data, reference, account = STATEMENTS[bank]
    response = upload(owner_client, data, "statement.sta")
    assert response.status_code == 302
    now = state(app)
    assert now["invoices"] == BOOKED
    assert now["payments"] == booked_payments(invoices)
    rows = entries(app)
    assert [(e.status, e.matched_by, e.amount, e.currency) for e in rows] == [
        (EntryStatus.matched, "rf", Decimal("121.00"), "EUR"), (EntryStatus.matched, "number", Decimal("250.00"), "EUR"),
        (EntryStatus.matched, "rf", Decimal("40.00"), "EUR"), (EntryStatus.unmatched, None, Decimal("77.77"), "EUR"),
        (EntryStatus.unmatched, None, Decimal("99.00"), "EUR")]
    assert (rows[0].debtor_name, rows[0].debtor_iban) == ("Anna Archer", "NL02RABO0123456789")
    assert rows[0].bank_ref == "2026120100001" and str(rows[0].booking_date) == "2026-12-01"
    assert "INV-1002" in rows[4].note and "INV-1002" in rows[4].remittance
    assert rows[1].remittance.endswith("INV-1002, thank you")  # the lines joined as written
    with app.app_context():
        statement = db.session.scalar(select(BankStatement))
        assert (statement.statement_ref, statement.account_iban) == (reference, account)
    assert_result_page(soup_of(owner_client.get(response.headers["Location"])))


def test_the_german_names_and_texts_keep_their_umlauts(app, owner_client, invoices):
    upload(owner_client, GERMAN, "statement.sta")
    unknown = next(e for e in entries(app) if e.amount == Decimal("77.77"))
    assert (unknown.debtor_name, unknown.remittance) == ("Jürgen Unbekannt", "Geburtstagsgeschenk für Dora")


@pytest.mark.parametrize("data,filename", [(DUTCH, "statement.xml"), (CAMT053, "statement.sta"),
                                           (GERMAN, "export.csv")],
                         ids=["mt940-named-xml", "camt-named-sta", "mt940-named-csv"])
def test_the_format_is_read_from_the_content_not_the_file_name(app, owner_client, invoices, data, filename):
    assert upload(owner_client, data, filename).status_code == 302
    assert [amount for amount, *_ in state(app)["payments"]] == [Decimal("121.00"), Decimal("250.00"), Decimal("40.00")]


@pytest.mark.parametrize("bank", STATEMENTS)
def test_importing_the_same_statement_again_books_nothing(app, owner_client, invoices, bank):
    data, reference, _account = STATEMENTS[bank]
    assert upload(owner_client, data, "statement.sta").status_code == 302
    before = state(app)
    again = upload(owner_client, data, "statement-copy.sta")
    assert again.status_code == 409
    assert field_error(soup_of(again), "Bank statement").startswith("This statement was already imported on")
    # the same transfers in another file (the bank exported it again, with another reference)
    other = data.replace(f":20:{reference}".encode(), f":20:{reference}-B".encode())
    response = upload(owner_client, other, "statement.sta")
    assert response.status_code == 409
    assert field_error(soup_of(response), "Bank statement") == \
        "Every transfer on this statement was imported before: nothing was booked again."
    assert state(app) == before


def test_a_later_statement_repeating_transfers_books_only_the_new_ones(app, owner_client, invoices):
    assert upload(owner_client, DUTCH, "statement.sta").status_code == 302
    new_line = (b":61:2612021202C60,00NTRFNONREF//2026120200001\r\n"
                b":86:/EREF/NOTPROVIDED//CNTP/NL02RABO0123456789/RABONL2U/Cees Cooper///REMI/STRD/CUR/RF49INV1003/\r\n"
                b":62F:")
    later = DUTCH.replace(b":20:STMT-2026-12-01", b":20:STMT-2026-12-02").replace(b":62F:", new_line)
    response = upload(owner_client, later, "statement.sta")
    assert response.status_code == 302
    assert state(app)["invoices"]["INV-1003"] == ("paid", Decimal("0.00"))
    assert len(state(app)["payments"]) == 4
    text = soup_of(owner_client.get(response.headers["Location"])).get_text(" ")
    assert "1 transfer booked." in text and "6 transfers were imported before and were skipped." in text


def test_transfers_without_a_bank_reference_count_each_once(app, owner_client, invoices):
    """Two alike transfers on one day without a bank reference are two; reversals and debits
    are not incoming transfers; importing the same lines again (another file) books nothing."""
    lines = [":61:2612011201C5,00NTRFNONREF", ":86:Gift for the team",
             ":61:2612011201C5,00NTRFNONREF", ":86:Gift for the team",
             ":61:2612011201RC7,00NTRFNONREF", ":86:Returned transfer",
             ":61:2612011201D3,00NMSCNONREF", ":86:Fee"]
    assert upload(owner_client, mt940(*lines), "a.sta").status_code == 302
    assert [(e.amount, e.remittance, e.status) for e in entries(app)] == [
        (Decimal("5.00"), "Gift for the team", EntryStatus.unmatched)] * 2
    response = upload(owner_client, mt940(*lines, reference="STMT-Y"), "b.sta")
    assert response.status_code == 409
    assert len(entries(app)) == 2


def test_staff_assign_a_waiting_mt940_transfer(app, owner_client, invoices):
    upload(owner_client, DUTCH, "statement.sta")
    gift = next(e.id for e in entries(app) if e.amount == Decimal("77.77"))
    response = owner_client.post("/admin/bank-statements/assign",
                                 data={"entry_id": gift, f"e{gift}-invoice_number": "INV-1004"})
    assert response.status_code == 302
    assert state(app)["invoices"]["INV-1004"] == ("partially_paid", Decimal("222.23"))


@pytest.mark.parametrize("data,message", [
    (mt940(":61:2612011201C12x,00NTRFNONREF//R1", ":86:x"), "An amount on the statement is not a number"),
    (mt940(":61:2612011201C,NTRFNONREF//R1", ":86:x"), "An amount on the statement is not a number"),
    (mt940(":61:not a statement line", ":86:x"), NOT_READABLE),
    (mt940(":61:2612311301C5,00NTRFNONREF//R1", ":86:x"), NOT_READABLE),  # the 13th month
    (b":20:STMT-X\r\n:25:NL91ABNA0417164300\r\n:28C:1/1\r\n:34F:EUR0,00\r\n", NOT_READABLE),  # MT942, no balance
    (b"Booking date;Amount;Text\n2026-12-01;121,00;:20: not a tag\n", NOT_READABLE),
    (b"\x00\x01:20:X\n:25:Y\n:60F:C261130EUR0,00\n", NOT_READABLE),
    (b"   \r\n", NOT_READABLE),
], ids=["bad-amount", "no-amount", "bad-line", "bad-date", "mt942", "csv", "binary", "blank"])
def test_a_file_that_is_neither_format_is_refused_and_nothing_booked(app, owner_client, invoices, data, message):
    before = state(app)
    response = upload(owner_client, data, "statement.sta")
    assert response.status_code == 422
    assert field_error(soup_of(response), "Bank statement").startswith(message)
    assert state(app) == before
