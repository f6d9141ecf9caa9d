"""The account statement (models.services.statement): a hand-worked example, what counts
and what does not, the period's opening balance, the CSV and PDF downloads, and a property
test over generated histories of invoices, reminders, credit notes, payments, undone
payments, write-offs, credit applied and cancellations."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models.customers import Customer
from models.db import db, now_utc
from models.documents import RECEIVABLE_KINDS, Document, DocumentKind, DocumentStatus
from models.payments import Payment, PaymentItem, PaymentStatus
from models.services import credit_notes, credits, documents, recorded_payments, reminders, settlement, statement
from models.services.documents import LineInput
from models.services.errors import DomainError
from models.staff import StaffUser
from tests import factories
from tests.conftest import count_queries, soup_of
from tests.letters.conftest import pdf_text, require_pdf
from models import clock

D = Decimal


def line(amount: str | Decimal, vat: str = "0") -> list[LineInput]:
    return [LineInput("Work", D("1"), D(amount), D(vat))]


def invoice(actor, customer, issued: date, amount: str, *, vat: str = "0", sent: bool = True) -> Document:
    made = documents.create_document(actor, customer, DocumentKind.invoice, issue_date=issued,
                                     due_date=issued + timedelta(days=14), currency="EUR", lines=line(amount, vat))
    if sent:
        documents.mark_sent(made)
    return made


def summary(result: statement.Statement) -> list[tuple]:
    return [(row.date, row.entry, row.document_number, row.debit, row.credit, row.balance)
            for account in result.accounts for row in account.rows]


# --- a hand-worked example ------------------------------------------------------------------


@pytest.fixture
def history(app, owner):
    """Invoice A (121.00) paid in part (50.00), credited (21.00) and paid to 10.00 over;
    invoice B (200.00) written off; invoice C (80.00), sent and cancelled (with a credit
    note); invoice D (30.00), never sent and cancelled: it is not on the statement."""
    customer = factories.customer(name="Erika Wagner", email="erika@wagner.example", language="en",
                                  street="Hauptstraße 1", postal_code="10115", city="Berlin")
    with app.app_context():
        actor = db.session.get(StaffUser, owner.id)
        customer = db.session.get(Customer, customer.id)
        today = clock.today()
        a = invoice(actor, customer, date(2025, 1, 10), "100.00", vat="21")
        recorded_payments.record_payment(actor, a, amount=D("50.00"), received_on=date(2025, 1, 20),
                                         method="bank_transfer", today=today)
        cn_a = credit_notes.create_credit_note(actor, a, issue_date=date(2025, 1, 25), lines=line("21.00"))
        b = invoice(actor, customer, date(2025, 2, 1), "200.00")
        c = invoice(actor, customer, date(2025, 2, 5), "80.00")
        d = invoice(actor, customer, date(2025, 2, 6), "30.00", sent=False)
        cn_c = credit_notes.cancel_invoice(actor, c, today=date(2025, 2, 10))
        assert credit_notes.cancel_invoice(actor, d, today=date(2025, 2, 10)) is None
        recorded_payments.write_off(actor, b, today=date(2025, 2, 15))
        recorded_payments.record_payment(actor, a, amount=D("60.00"), received_on=date(2025, 3, 1), method="cash",
                                         today=today, confirm_credit=True)
        draft = documents.create_document(actor, customer, DocumentKind.invoice, issue_date=date(2025, 3, 2),
                                          due_date=date(2025, 3, 20), currency="EUR", lines=line("999.00"), draft=True)
        quote = documents.create_document(actor, customer, DocumentKind.quote, issue_date=date(2025, 3, 2),
                                          valid_until=date(2025, 4, 1), currency="EUR", lines=line("555.00"))
        db.session.commit()
        numbers = {"a": a.number, "b": b.number, "c": c.number, "d": d.number, "cn_a": cn_a.number,
                   "cn_c": cn_c.number, "draft_id": draft.id, "quote": quote.number}
    return customer, numbers


def test_the_hand_worked_statement(app, history):
    customer, n = history
    with app.app_context():
        result = statement.statement(db.session.get(Customer, customer.id))
        assert [a.currency for a in result.accounts] == ["EUR"]
        assert summary(result) == [
            (date(2025, 1, 10), "invoice", n["a"], D("121.00"), D("0.00"), D("121.00")),
            (date(2025, 1, 20), "payment", n["a"], D("0.00"), D("50.00"), D("71.00")),
            (date(2025, 1, 25), "credit_note", n["cn_a"], D("0.00"), D("21.00"), D("50.00")),
            (date(2025, 2, 1), "invoice", n["b"], D("200.00"), D("0.00"), D("250.00")),
            (date(2025, 2, 5), "invoice", n["c"], D("80.00"), D("0.00"), D("330.00")),
            (date(2025, 2, 10), "credit_note", n["cn_c"], D("0.00"), D("80.00"), D("250.00")),
            (date(2025, 2, 15), "write_off", n["b"], D("0.00"), D("200.00"), D("50.00")),
            (date(2025, 3, 1), "payment", n["a"], D("0.00"), D("60.00"), D("-10.00")),
        ]
        account = result.accounts[0]
        assert (account.opening_balance, account.closing_balance) == (D("0.00"), D("-10.00"))
        assert (account.total_debit, account.total_credit) == (D("401.00"), D("411.00"))
        # The customer paid 10.00 more than was left: it is their credit, and nothing is outstanding.
        assert credits.balance(customer.id) == {"EUR": D("10.00")}
        labels = [str(row.label) for row in account.rows]
        assert labels == ["Invoice", "Payment by bank transfer", f"Credit note for invoice {n['a']}", "Invoice",
                          "Invoice", f"Credit note for invoice {n['c']}", "Written off", "Payment in cash"]


def test_a_period_opens_with_the_balance_before_it(app, history):
    customer, n = history
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        with count_queries(app) as statements:
            result = statement.statement(record, date(2025, 2, 1), date(2025, 2, 28))
        assert len(statements) == 4  # documents, payments, and the two opening balances
        account = result.accounts[0]
        assert account.opening_balance == D("50.00")
        assert [(row.entry, row.balance) for row in account.rows] == [
            ("invoice", D("250.00")), ("invoice", D("330.00")), ("credit_note", D("250.00")), ("write_off", D("50.00"))]
        assert account.closing_balance == D("50.00")
        later = statement.statement(record, date(2025, 3, 1))
        assert later.accounts[0].opening_balance == D("50.00")
        assert later.accounts[0].closing_balance == D("-10.00")
        # A period with nothing in it still says what the balance was.
        quiet = statement.statement(record, date(2025, 4, 1), date(2025, 4, 30))
        assert [(a.opening_balance, a.rows, a.closing_balance) for a in quiet.accounts] == [(D("-10.00"), [], D("-10.00"))]
        assert statement.statement(record, None, date(2025, 1, 9)).accounts == []
        with count_queries(app) as statements:
            statement.statement(record)
        assert len(statements) == 2


def test_the_statement_on_the_documents_tab(owner_client, history):
    customer, n = history
    soup = owner_client.soup(f"/admin/customers/{customer.id}/documents")
    section = soup.find(id="statement-h").find_parent("section")
    table = section.find("table")
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    assert headers == ["Date", "Description", "Document", "Debit", "Credit", "Balance"]
    body = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in table.tbody.find_all("tr")]
    assert body[0] == ["Jan 10, 2025", "Invoice", n["a"], "€121.00", "", "€121.00"]
    assert body[-1] == ["Mar 1, 2025", "Payment in cash", n["a"], "", "€60.00", "-€10.00"]
    assert len(body) == 8
    assert table.tfoot.get_text(" ", strip=True) == "Balance €401.00 €411.00 -€10.00"
    assert "The customer has €10.00 to their credit." in section.get_text(" ", strip=True)
    # entries link to their documents
    assert table.tbody.find("a", string=n["cn_c"])["href"].startswith("/admin/")
    # never sent and cancelled, drafts and quotes are documents but no entries
    assert n["d"] not in table.get_text() and n["quote"] not in table.get_text()
    listed = [tr.find("td").get_text(strip=True) for tr in soup.find("table").tbody.find_all("tr")]
    assert n["d"] in listed and n["quote"] in listed and "Draft" in listed

    period = owner_client.soup(f"/admin/customers/{customer.id}/documents?date_from=2025-02-01&date_to=2025-02-28")
    table = period.find(id="statement-h").find_parent("section").find("table")
    first = [td.get_text(" ", strip=True) for td in table.tbody.find("tr").find_all("td")]
    assert first == ["Feb 1, 2025", "Opening balance", "", "", "", "€50.00"]
    assert table.tfoot.get_text(" ", strip=True) == "Balance on Feb 28, 2025 €280.00 €280.00 €50.00"
    downloads = period.find(id="statement-h").find_parent("section")
    csv_link = downloads.find("a", string="Download CSV")["href"]
    assert "date_from=2025-02-01" in csv_link and "date_to=2025-02-28" in csv_link


def test_the_csv_download(owner_client, history):
    customer, n = history
    response = owner_client.get(f"/admin/customers/{customer.id}/documents/statement.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="statement-{customer.number}.csv"'
    lines = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert lines[0] == ["Date", "Description", "Document", "Debit", "Credit", "Balance", "Currency"]
    assert lines[1] == ["2025-01-10", "Invoice", n["a"], "121.00", "", "121.00", "EUR"]
    assert lines[2] == ["2025-01-20", "Payment by bank transfer", n["a"], "", "50.00", "71.00", "EUR"]
    assert lines[8] == ["2025-03-01", "Payment in cash", n["a"], "", "60.00", "-10.00", "EUR"]
    assert lines[9] == ["2025-03-01", "Closing balance", "", "401.00", "411.00", "-10.00", "EUR"]
    assert len(lines) == 10

    period = owner_client.get(
        f"/admin/customers/{customer.id}/documents/statement.csv?date_from=2025-02-01&date_to=2025-02-28")
    assert period.headers["Content-Disposition"] == (
        f'attachment; filename="statement-{customer.number}-2025-02-01-2025-02-28.csv"')
    lines = list(csv.reader(io.StringIO(period.get_data().decode("utf-8-sig"))))
    assert lines[1] == ["2025-02-01", "Opening balance", "", "", "", "50.00", "EUR"]
    assert lines[-1] == ["2025-02-28", "Closing balance", "", "280.00", "280.00", "50.00", "EUR"]


def as_a_spreadsheet_reads(data: bytes) -> str:
    """Excel and LibreOffice read a CSV as UTF-8 only when it starts with the byte order mark;
    otherwise in the system's code page (Windows-1252 in the Netherlands and Germany)."""
    return data[3:].decode("utf-8") if data.startswith(b"\xef\xbb\xbf") else data.decode("cp1252")


def test_the_csv_keeps_its_accents_in_a_spreadsheet(owner_client, history):
    """A German bookkeeper's statement says "Zahlung per Überweisung", not "Ãœberweisung"."""
    customer, n = history
    owner_client.post("/admin/account", data={"lang-language": "de", "lang-submit": "Save language"})
    response = owner_client.get(f"/admin/customers/{customer.id}/documents/statement.csv")
    lines = list(csv.reader(io.StringIO(as_a_spreadsheet_reads(response.get_data()))))
    assert lines[0][0] == "Datum"
    assert lines[2][:3] == ["2025-01-20", "Zahlung per Überweisung", n["a"]]


def test_a_csv_cell_is_never_a_formula(app, owner_client, owner):
    customer = factories.customer(name="Sly Sheet")
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        documents.create_document(db.session.get(StaffUser, owner.id), record, DocumentKind.invoice,
                                  issue_date=date(2025, 1, 1), due_date=date(2025, 1, 15), currency="EUR",
                                  lines=line("10.00"), number="=HYPERLINK(\"http://evil.example\")")
        db.session.commit()
    body = owner_client.get(f"/admin/customers/{customer.id}/documents/statement.csv").get_data().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(body)))[1][2] == "'=HYPERLINK(\"http://evil.example\")"


def test_the_pdf_download(app, owner_client, history):
    require_pdf(app)
    customer, n = history
    response = owner_client.get(f"/admin/customers/{customer.id}/documents/statement.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="statement-{customer.number}.pdf"'
    text = pdf_text(response.data)
    assert "Account statement" in text and "Erika Wagner" in text and "Berlin" in text
    for figure in ("€121.00", "€60.00", "-€10.00", "€401.00", "€411.00"):
        assert figure in text, figure
    for number in (n["a"], n["cn_a"], n["cn_c"]):
        assert number in text
    assert n["d"] not in text


def test_the_pdf_is_in_the_customers_language(app, owner_client, history):
    require_pdf(app)
    customer = factories.customer(name="Jan de Vries", language="nl")
    factories.invoice(customer, amount="1000.00", issue_date=date(2025, 5, 1))
    text = pdf_text(owner_client.get(f"/admin/customers/{customer.id}/documents/statement.pdf").data)
    assert "€\xa01.210,00" in text  # Dutch figures (the words follow once translated)


def test_the_downloads_are_only_for_who_may_see_the_customer(app, employee_client, history):
    customer, _ = history
    for download in ("statement.csv", "statement.pdf"):
        assert employee_client.get(f"/admin/customers/{customer.id}/documents/{download}").status_code == 404


# --- what counts --------------------------------------------------------------------------


def test_what_is_money_received_and_what_is_not(app, owner):
    """Online payments count; customer credit applied, undone payments, payments never
    booked and other customers' payments do not; a reminder's fee counts, a reminder without
    one does not; each currency has its own account."""
    customer = factories.customer(name="Carla Credit")
    other = factories.customer(name="Otto Other")
    with app.app_context():
        actor = db.session.get(StaffUser, owner.id)
        record = db.session.get(Customer, customer.id)
        today = clock.today()
        first = invoice(actor, record, today - timedelta(days=60), "100.00")
        online = Payment(customer_id=record.id, provider="test", idempotency_key="k1", amount=D("40.00"),
                         currency="EUR", status=PaymentStatus.paid, paid_at=now_utc() - timedelta(days=50),
                         booked_at=now_utc() - timedelta(days=50),
                         items=[PaymentItem(document_id=first.id, amount=D("40.00"))])
        never_booked = Payment(customer_id=record.id, provider="test", idempotency_key="k2", amount=D("60.00"),
                               currency="EUR", status=PaymentStatus.open,
                               items=[PaymentItem(document_id=first.id, amount=D("60.00"))])
        theirs = Payment(customer_id=other.id, provider="test", idempotency_key="k3", amount=D("7.00"),
                         currency="EUR", status=PaymentStatus.paid, paid_at=now_utc(), booked_at=now_utc(),
                         items=[])
        db.session.add_all([online, never_booked, theirs])
        db.session.flush()
        settlement.change(first.id, paid=D("40.00"))  # as booking an online payment does
        undone = recorded_payments.record_payment(actor, first, amount=D("10.00"), method="cash", today=today,
                                                  received_on=today - timedelta(days=40))
        recorded_payments.undo_payment(actor, first, undone.id)
        # a credit note larger than what is left: 50.00 becomes customer credit ...
        credit_notes.create_credit_note(actor, first, issue_date=today - timedelta(days=30), lines=line("110.00"))
        # ... which settles the next invoice when it is issued (settings: automatically)
        second = invoice(actor, record, today - timedelta(days=20), "30.00")
        assert second.status == DocumentStatus.paid
        overdue = invoice(actor, record, today - timedelta(days=19), "25.00")
        with_fee = reminders.create_reminder(actor, record, [overdue], level=2, issue_date=today - timedelta(days=3),
                                             fee=D("5.00"), interest=D("0.50"))
        without_fee = reminders.create_reminder(actor, record, [overdue], level=3, issue_date=today - timedelta(days=2))
        dollars = documents.create_document(actor, record, DocumentKind.invoice, issue_date=today - timedelta(days=1),
                                            due_date=today + timedelta(days=13), currency="USD", lines=line("9.99"))
        db.session.commit()

        result = statement.statement(record)
        assert [a.currency for a in result.accounts] == ["EUR", "USD"]
        eur = result.account("EUR")
        assert [(row.entry, row.document_number, row.debit or -row.credit) for row in eur.rows] == [
            ("invoice", first.number, D("100.00")),
            ("payment", first.number, D("-40.00")),
            ("credit_note", eur.rows[2].document_number, D("-110.00")),
            ("invoice", second.number, D("30.00")),
            ("invoice", overdue.number, D("25.00")),
            ("reminder", with_fee.number, D("5.50")),
        ]
        assert without_fee.number not in [row.document_number for row in eur.rows]
        assert str(eur.rows[1].label) == "Payment online"
        # 100 − 40 − 110 + 30 + 25 + 5.50 = 10.50: the credit note's 50.00 over went to the
        # next invoices (30.00 and 20.00 of 25.00), so 5.00 and the reminder's fee are left
        assert eur.closing_balance == D("10.50")
        assert credits.balance(record.id) == {}
        assert (overdue.outstanding, with_fee.outstanding) == (D("5.00"), D("5.50"))
        assert result.account("USD").closing_balance == dollars.gross_total == D("9.99")
        assert result.balances == {"EUR": D("10.50"), "USD": D("9.99")}


def test_a_payment_is_dated_by_the_business_calendar(app, owner):
    """Paid at 23:30 UTC on 31 March is 1 April in Amsterdam."""
    customer = factories.customer(name="Nora Night")
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        first = invoice(None, record, date(2025, 3, 1), "10.00")
        moment = datetime(2025, 3, 31, 23, 30, tzinfo=timezone.utc)
        db.session.add(Payment(customer_id=record.id, provider="test", idempotency_key="late", amount=D("10.00"),
                               currency="EUR", status=PaymentStatus.paid, paid_at=moment, booked_at=moment,
                               items=[PaymentItem(document_id=first.id, amount=D("10.00"))]))
        db.session.commit()
        assert [row.date for row in statement.statement(record).rows] == [date(2025, 3, 1), date(2025, 4, 1)]
        assert statement.statement(record, date(2025, 4, 1)).accounts[0].opening_balance == D("10.00")
        assert statement.statement(record, None, date(2025, 3, 31)).accounts[0].closing_balance == D("10.00")


# --- the property -------------------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=500_00).map(lambda cents: Decimal(cents) / 100)
steps = st.one_of(
    st.tuples(st.just("invoice"), amounts, st.sampled_from(["0", "9", "21"]), st.booleans()),
    st.tuples(st.just("payment"), st.integers(0, 20), amounts, st.sampled_from(["bank_transfer", "cash", "other"])),
    st.tuples(st.just("credit_note"), st.integers(0, 20), amounts),
    st.tuples(st.just("write_off"), st.integers(0, 20)),
    st.tuples(st.just("undo"), st.integers(0, 20)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("reminder"), st.integers(0, 20), st.integers(0, 20_00).map(lambda c: Decimal(c) / 100)),
    st.tuples(st.just("apply_credit"), st.integers(0, 20)),
)


def _pick(items: list, index: int):
    return items[index % len(items)] if items else None


def _play(actor, customer, history) -> Decimal:
    """Runs the steps through the services; returns the balance the statement rule gives,
    worked out here from what each step did (not from the statement's own queries)."""
    start = clock.today() - timedelta(days=len(history) + 30)
    expected = D("0.00")
    invoices: list[Document] = []
    receivables: list[Document] = []
    payments: list[tuple[Payment, Document]] = []
    for step, (action, *args) in enumerate(history):
        day = start + timedelta(days=step)
        if action == "invoice":
            amount, vat, sent = args
            made = invoice(actor, customer, day, amount, vat=vat, sent=sent)
            invoices.append(made)
            receivables.append(made)
            expected += made.gross_total
        elif action == "payment":
            target = _pick(receivables, args[0])
            if target is None or target.status == DocumentStatus.cancelled:
                continue
            payment = recorded_payments.record_payment(actor, target, amount=args[1], received_on=day, method=args[2],
                                                       today=clock.today(), confirm_credit=True)
            payments.append((payment, target))
            expected -= args[1]
        elif action == "credit_note":
            target = _pick(invoices, args[0])
            if target is None or target.status == DocumentStatus.cancelled:
                continue
            expected -= credit_notes.create_credit_note(actor, target, issue_date=day, lines=line(args[1])).gross_total
        elif action == "write_off":
            target = _pick(receivables, args[0])
            if target is None or target.status not in (DocumentStatus.open, DocumentStatus.partially_paid):
                continue
            db.session.refresh(target)
            if target.outstanding <= 0:
                continue
            expected -= recorded_payments.write_off(actor, target, today=day)
        elif action == "undo":
            picked = _pick([p for p in payments if p[0].reversed_at is None], args[0])
            if picked is None:
                continue
            try:
                recorded_payments.undo_payment(actor, picked[1], picked[0].id)
            except DomainError:  # refused (its credit was used since): nothing changed
                continue
            expected += picked[0].amount
        elif action == "cancel":
            target = _pick(invoices, args[0])
            if target is None or target.status == DocumentStatus.cancelled:
                continue
            db.session.refresh(target)
            if target.amount_paid > 0:
                continue  # refused: money received is undone or credited first
            if target.outstanding <= 0:
                continue  # refused: credited or written off in full, nothing left to cancel
            if target.sent_at is None and (target.amount_credited > 0 or target.amount_written_off > 0):
                # The rule's blind spot: the invoice leaves the statement, its credit note or
                # write-off stays. Not generated (see the report on issue 16).
                continue
            credit_note = credit_notes.cancel_invoice(actor, target, today=day)
            if target.sent_at is None:
                expected -= target.gross_total  # never seen: it simply ends
            elif credit_note is not None:
                expected -= credit_note.gross_total
        elif action == "reminder":
            target = _pick(invoices, args[0])
            if target is None:
                continue
            db.session.refresh(target)
            if target.status not in (DocumentStatus.open, DocumentStatus.partially_paid) or target.outstanding <= 0:
                continue
            made = reminders.create_reminder(actor, customer, [target], level=1 + step % 3, issue_date=day, fee=args[1])
            receivables.append(made)
            expected += made.gross_total  # 0.00 without a fee: no entry
        elif action == "apply_credit":
            target = _pick(invoices, args[0])
            if target is not None:
                credits.apply_credit(actor, target)  # not money received: the balance stays
    return expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(history=st.lists(steps, max_size=14), split=st.integers(0, 60))
def test_the_balance_is_documents_less_credit_notes_payments_and_write_offs(app, owner, history, split):
    customer = factories.customer(name="Generated Gerda")
    with app.app_context():
        actor = db.session.get(StaffUser, owner.id)
        record = db.session.get(Customer, customer.id)
        expected = _play(actor, record, history)
        db.session.commit()

        result = statement.statement(record)
        balance = result.balances.get("EUR", D("0.00"))
        # 1. The statement's rule, worked out step by step above.
        assert balance == expected

        # 2. The same from the documents' own columns: what is outstanding on every
        # receivable that is neither a draft nor cancelled, less the customer's credit.
        # This holds because every paid amount here comes from a Payment (demo data may set
        # amount_paid directly) and because the generator never cancels a never-sent invoice
        # that was already credited or written off (the rule's blind spot).
        receivables = db.session.scalars(select(Document).where(
            Document.customer_id == record.id, Document.kind.in_(RECEIVABLE_KINDS),
            Document.status.not_in([DocumentStatus.draft, DocumentStatus.cancelled]))).all()
        outstanding = sum((d.outstanding for d in receivables), D("0.00"))
        assert balance == outstanding - credits.balance(record.id).get("EUR", D("0.00"))

        # 3. Any start date splits it: the opening balance plus the period's entries.
        cut = clock.today() - timedelta(days=len(history) + 30) + timedelta(days=split)
        later = statement.statement(record, cut).balances.get("EUR", D("0.00"))
        assert later == balance
        before = sum((row.debit - row.credit for row in result.rows if row.date < cut), D("0.00"))
        opening = statement.statement(record, cut)
        assert (opening.accounts[0].opening_balance if opening.accounts else D("0.00")) == before
