"""The life of each document kind, through the domain services as a request calls them.

Each step runs in an app context of its own and commits (a refused one rolls back), and
what it did is read back in a fresh one, as the next request would see it. Dates are fixed
(the services take `today`), so numbers and years are known in advance.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.documents import Document, DocumentKind, DocumentStatus, ReminderItem
from models.payments import Payment, PaymentItem
from models.services import credit_notes, credits, documents, quotes, recorded_payments, reminders
from models.services.documents import LineInput, Totals
from models.services.errors import DomainError
from models.services.settings import get_settings
from models.staff import StaffUser
from tests import factories

D = Decimal
Kind = DocumentKind
Status = DocumentStatus
ISSUE = date(2025, 3, 3)
TODAY = date(2025, 6, 2)


# --- helpers (the other files of this package use them too) ---------------------------------


def line(price: str = "100.00", vat: str = "21", quantity: str = "1", description: str = "Work") -> LineInput:
    return LineInput(description, D(quantity), D(price), D(vat))


def _detach(result):
    if isinstance(result, (list, tuple)):
        return type(result)(_detach(item) for item in result)
    if isinstance(result, db.Model) and result in db.session:
        db.session.refresh(result)
        db.session.expunge(result)
    return result


def request(app, change):
    """One request: its own app context and session, one commit. Objects it returns come
    back detached with their columns loaded."""
    with app.app_context():
        try:
            result = change()
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        return _detach(result)


def refused(app, change, field: str | None = None, error: type[DomainError] = DomainError) -> str:
    """`change` is refused with exactly `error` at `field`; nothing it did is kept. The message."""
    with app.app_context():
        with pytest.raises(DomainError) as raised:
            change()
        db.session.rollback()
        assert raised.type is error, raised.value.message
        assert raised.value.field == field, (raised.value.field, str(raised.value.message))
        return str(raised.value.message)


def get(model, id_: int):
    """Inside a request: the row as this session loads it."""
    return db.session.get(model, id_)


def doc(id_: int) -> Document:
    return db.session.get(Document, id_)


def fresh(app, document_id: int) -> Document:
    """The document (with its lines) as a new request reads it, detached."""
    with app.app_context():
        document = db.session.scalar(
            select(Document).options(selectinload(Document.lines)).where(Document.id == document_id))
        assert document is not None, f"document {document_id} is gone"
        db.session.expunge_all()
        return document


def exists(app, document_id: int) -> bool:
    with app.app_context():
        return db.session.get(Document, document_id) is not None


def state(app, document_id: int) -> tuple:
    """(status, paid, credited, written off, outstanding)."""
    document = fresh(app, document_id)
    return (document.status, document.amount_paid, document.amount_credited, document.amount_written_off,
            document.outstanding)


def balance(app, customer_id: int) -> dict[str, Decimal]:
    with app.app_context():
        return credits.balance(customer_id)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def numbers(app, kind: DocumentKind) -> list[str | None]:
    with app.app_context():
        return list(db.session.scalars(select(Document.number).where(Document.kind == kind).order_by(Document.id)))


def audit_trail(app, entity_id: int | None = None) -> list[tuple[str, int | None]]:
    """(action, actor staff id) of each audit event, oldest first."""
    with app.app_context():
        stmt = select(AuditEvent.action, AuditEvent.actor_staff_id).order_by(AuditEvent.id)
        if entity_id is not None:
            stmt = stmt.where(AuditEvent.entity_id == entity_id)
        return [tuple(row) for row in db.session.execute(stmt)]


def set_settings(app, **values) -> None:
    with app.app_context():
        settings = get_settings(for_update=True)
        for name, value in values.items():
            setattr(settings, name, value)
        db.session.commit()


def create(app, customer: Customer, kind: DocumentKind = Kind.invoice, *, lines: list[LineInput] | None = None,
           issue_date: date = ISSUE, actor: StaffUser | None = None, currency: str = "EUR", **values) -> Document:
    """A document made by `documents.create_document`: invoices due in 14 days, quotes valid 30."""
    if kind == Kind.invoice:
        values.setdefault("due_date", issue_date + timedelta(days=14))
    if kind == Kind.quote:
        values.setdefault("valid_until", issue_date + timedelta(days=30))
    return request(app, lambda: documents.create_document(
        actor and get(StaffUser, actor.id), get(Customer, customer.id), kind, issue_date=issue_date,
        currency=currency, lines=lines or [line()], **values))


def pay(app, actor: StaffUser, document_id: int, amount: str, *, received_on: date = ISSUE + timedelta(days=5),
        method: str = "bank_transfer", confirm_credit: bool = False) -> Payment:
    return request(app, lambda: recorded_payments.record_payment(
        get(StaffUser, actor.id), doc(document_id), amount=D(amount), received_on=received_on, method=method,
        today=TODAY, confirm_credit=confirm_credit))


def credit(app, invoice_id: int, amount: str, *, issue_date: date = ISSUE + timedelta(days=7),
           actor: StaffUser | None = None, vat: str = "0") -> Document:
    return request(app, lambda: credit_notes.create_credit_note(
        actor and get(StaffUser, actor.id), doc(invoice_id), issue_date=issue_date,
        lines=[line(amount, vat, description="Credit")]))


def remind(app, customer: Customer, invoice_ids: list[int], *, level: int = 1, fee: str | None = None,
           interest: str | None = None, issue_date: date = TODAY, number: str | None = None) -> Document:
    return request(app, lambda: reminders.create_reminder(
        None, get(Customer, customer.id), [doc(i) for i in invoice_ids], level=level, issue_date=issue_date,
        fee=D(fee) if fee is not None else None, interest=D(interest) if interest is not None else None,
        number=number))


# --- numbering ------------------------------------------------------------------------------


def test_each_kind_is_numbered_with_its_prefix_from_settings_in_a_sequence_per_year(app, customer):
    set_settings(app, document_prefixes={"invoice": "INV-", "quote": "OFF-"})  # the rest keep the defaults
    first = create(app, customer)
    second = create(app, customer)
    next_year = create(app, customer, issue_date=date(2026, 1, 2))
    quote = create(app, customer, Kind.quote)
    confirmation = create(app, customer, Kind.order_confirmation)
    delivery = create(app, customer, Kind.delivery_note)
    note = credit(app, first.id, "10.00")
    reminder = remind(app, customer, [second.id])
    assert [first.number, second.number, next_year.number] == ["INV-2025-00001", "INV-2025-00002", "INV-2026-00001"]
    assert quote.number == "OFF-2025-00001"
    assert (confirmation.number, delivery.number, note.number) == ("OC-2025-00001", "DN-2025-00001", "CN-2025-00001")
    assert reminder.number == "R-2025-00001"

    set_settings(app, document_prefixes={"invoice": "F"})  # a new prefix goes on with the same sequence
    assert create(app, customer).number == "F2025-00003"


def test_two_kinds_may_share_a_sequence_value_without_colliding(app, customer):
    set_settings(app, document_prefixes={"invoice": "", "order_confirmation": "", "quote": ""})
    invoice = create(app, customer)
    confirmation = create(app, customer, Kind.order_confirmation)
    quote = create(app, customer, Kind.quote)
    assert invoice.number == confirmation.number == quote.number == "2025-00001"
    assert create(app, customer, Kind.quote).number == "2025-00002"


def test_a_draft_takes_no_number_until_it_is_issued_and_a_deleted_draft_leaves_no_gap(app, owner, customer):
    kept = create(app, customer, draft=True)
    dropped = create(app, customer, draft=True)
    assert (kept.number, kept.status) == (None, Status.draft)
    issued = create(app, customer)
    assert issued.number == "2025-00001"  # the drafts took none

    request(app, lambda: documents.delete_draft(get(StaffUser, owner.id), doc(dropped.id)))
    assert not exists(app, dropped.id)
    request(app, lambda: documents.issue_draft(get(StaffUser, owner.id), doc(kept.id)))
    assert (fresh(app, kept.id).number, fresh(app, kept.id).status) == ("2025-00002", Status.open)
    assert create(app, customer).number == "2025-00003"
    assert numbers(app, Kind.invoice) == ["2025-00002", "2025-00001", "2025-00003"]


def test_a_refused_document_takes_no_number(app, customer):
    refused(app, lambda: documents.create_document(
        None, get(Customer, customer.id), Kind.invoice, issue_date=ISSUE, due_date=ISSUE, currency="EUR",
        lines=[line()], expected_totals=Totals(D("100.00"), D("21.00"), D("120.00"))), field="totals")
    assert create(app, customer).number == "2025-00001"


def test_an_external_number_is_kept_as_it_is_and_refused_when_its_kind_already_has_it(app, customer):
    imported = create(app, customer, number="  EXT/2019-77 ")
    assert imported.number == "EXT/2019-77"
    assert create(app, customer).number == "2025-00001"  # the sequence did not move

    message = refused(app, lambda: documents.create_document(
        None, get(Customer, customer.id), Kind.invoice, issue_date=ISSUE, due_date=ISSUE, currency="EUR",
        lines=[line()], number="EXT/2019-77"), field="number")
    assert message == "Number EXT/2019-77 is already used."
    refused(app, lambda: documents.create_document(
        None, get(Customer, customer.id), Kind.invoice, issue_date=ISSUE, due_date=ISSUE, currency="EUR",
        lines=[line()], number="   "), field="number")
    assert count(app, Document) == 2

    # Another kind may have the same number.
    assert create(app, customer, Kind.quote, number="EXT/2019-77").number == "EXT/2019-77"


def test_an_external_credit_note_or_reminder_number_already_used_is_refused_at_the_number(app, customer):
    invoice = create(app, customer, issue_date=date(2025, 1, 2))
    request(app, lambda: credit_notes.create_credit_note(
        None, doc(invoice.id), issue_date=ISSUE, lines=[line("5.00", "0")], number="CN-OLD-1"))
    refused(app, lambda: credit_notes.create_credit_note(
        None, doc(invoice.id), issue_date=ISSUE, lines=[line("5.00", "0")], number="CN-OLD-1"), field="number")

    assert remind(app, customer, [invoice.id], number="M-OLD-1").number == "M-OLD-1"
    refused(app, lambda: reminders.create_reminder(
        None, get(Customer, customer.id), [doc(invoice.id)], level=1, issue_date=TODAY, number=" M-OLD-1 "),
        field="number")
    assert numbers(app, Kind.reminder) == ["M-OLD-1"]
    assert numbers(app, Kind.credit_note) == ["CN-OLD-1"]


def test_the_sequence_passes_over_a_number_an_imported_document_already_has(app, customer):
    """An invoice imported with number 2025-00002 (the business's own format): the sequence
    goes from 00001 to 00003 instead of failing on the unique number."""
    create(app, customer, number="2025-00002")
    assert create(app, customer).number == "2025-00001"
    assert create(app, customer).number == "2025-00003"
    assert create(app, customer).number == "2025-00004"


# --- invoices ---------------------------------------------------------------------------------


def test_the_life_of_an_invoice_from_draft_to_paid_and_back(app, owner, customer):
    draft = create(app, customer, draft=True, actor=owner, notes="First try")
    assert (draft.status, draft.number, draft.gross_total) == (Status.draft, None, D("121.00"))

    request(app, lambda: documents.update_draft(
        get(StaffUser, owner.id), doc(draft.id), issue_date=ISSUE, due_date=ISSUE + timedelta(days=30),
        currency="EUR", lines=[line("200.00", "21", "2", "Design"), line("50.00", "9", description="Print")],
        notes="  Agreed by phone "))
    edited = fresh(app, draft.id)
    assert [(x.position, x.description, x.quantity, x.unit_price, x.net_amount) for x in edited.lines] == [
        (1, "Design", D("2.000"), D("200.00"), D("400.00")), (2, "Print", D("1.000"), D("50.00"), D("50.00"))]
    assert (edited.net_total, edited.tax_total, edited.gross_total) == (D("450.00"), D("88.50"), D("538.50"))
    assert (edited.due_date, edited.notes, edited.status) == (ISSUE + timedelta(days=30), "Agreed by phone", Status.draft)

    request(app, lambda: documents.issue_draft(get(StaffUser, owner.id), doc(draft.id)))
    issued = fresh(app, draft.id)
    assert (issued.number, issued.status, issued.outstanding) == ("2025-00001", Status.open, D("538.50"))
    refused(app, lambda: documents.update_draft(
        get(StaffUser, owner.id), doc(draft.id), issue_date=ISSUE, due_date=ISSUE, currency="EUR", lines=[line()]))
    refused(app, lambda: documents.issue_draft(get(StaffUser, owner.id), doc(draft.id)))
    refused(app, lambda: documents.delete_draft(get(StaffUser, owner.id), doc(draft.id)))
    assert fresh(app, draft.id).gross_total == D("538.50")

    first = pay(app, owner, draft.id, "200.00")
    assert state(app, draft.id) == (Status.partially_paid, D("200.00"), 0, 0, D("338.50"))
    rest = pay(app, owner, draft.id, "338.50", method="cash", received_on=TODAY)
    assert state(app, draft.id) == (Status.paid, D("538.50"), 0, 0, D("0.00"))
    assert (rest.provider, rest.method, rest.recorded_by_id, rest.amount) == ("manual", "cash", owner.id, D("338.50"))
    assert rest.paid_at.date() == TODAY and rest.booked_at is not None

    request(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(draft.id), first.id))
    assert state(app, draft.id) == (Status.partially_paid, D("338.50"), 0, 0, D("200.00"))
    with app.app_context():
        assert get(Payment, first.id).reversed_at is not None
        assert get(Payment, rest.id).reversed_at is None
    refused(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(draft.id), first.id))

    request(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(draft.id), rest.id))
    assert state(app, draft.id) == (Status.open, D("0.00"), 0, 0, D("538.50"))

    # Every correction is audited with the staff member who made it.
    assert audit_trail(app) == [
        ("invoice.created", owner.id), ("invoice.draft_edited", owner.id), ("invoice.issued", owner.id),
        ("payment.recorded", owner.id), ("payment.recorded", owner.id), ("payment.undone", owner.id),
        ("payment.undone", owner.id)]


def test_an_invoice_is_issued_open_and_overdue_is_derived_from_its_due_date(app, customer):
    invoice = create(app, customer, due_date=ISSUE + timedelta(days=14))
    assert invoice.status == Status.open
    assert not invoice.is_overdue(ISSUE + timedelta(days=14))
    assert invoice.is_overdue(ISSUE + timedelta(days=15))
    assert fresh(app, invoice.id).status == Status.open  # never stored


def test_a_new_document_has_the_customers_language_and_is_released_unless_told(app, customer):
    invoice = create(app, customer)
    assert (invoice.language, invoice.released_to_portal) == ("en", True)
    quote = create(app, customer, Kind.quote, language="de", released=False)
    assert (quote.language, quote.released_to_portal) == ("de", False)


def test_an_invoice_needs_a_due_date_on_or_after_its_issue_date(app, customer):
    refused(app, lambda: documents.create_document(
        None, get(Customer, customer.id), Kind.invoice, issue_date=ISSUE, currency="EUR", lines=[line()]),
        field="due_date")
    refused(app, lambda: documents.create_document(
        None, get(Customer, customer.id), Kind.invoice, issue_date=ISSUE, due_date=ISSUE - timedelta(days=1),
        currency="EUR", lines=[line()]), field="due_date")
    assert count(app, Document) == 0


# --- totals --------------------------------------------------------------------------------


def test_totals_that_do_not_add_up_are_refused_at_the_totals(app, customer):
    lines = [line("19.99", "21", "3"), line("10.00", "9")]  # net 59.97 + 10.00; VAT 12.59 + 0.90
    message = refused(app, lambda: documents.create_document(
        None, get(Customer, customer.id), Kind.invoice, issue_date=ISSUE, due_date=ISSUE, currency="EUR",
        lines=lines, expected_totals=Totals(D("69.97"), D("13.50"), D("83.47"))), field="totals")
    assert "net 69.97, tax 13.49, gross 83.46" in message
    assert count(app, Document) == 0

    invoice = create(app, customer, lines=lines, expected_totals=Totals(D("69.97"), D("13.49"), D("83.46")))
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (D("69.97"), D("13.49"), D("83.46"))


@pytest.mark.parametrize("kind", [Kind.invoice, Kind.credit_note])
def test_a_negative_quantity_on_an_invoice_or_credit_note_is_refused_at_the_lines(app, customer, kind):
    lines = [line("100.00"), line("10.00", quantity="-1", description="Returned")]
    if kind == Kind.invoice:
        change = lambda: documents.create_document(  # noqa: E731
            None, get(Customer, customer.id), kind, issue_date=ISSUE, due_date=ISSUE, currency="EUR", lines=lines)
    else:
        invoice = create(app, customer)
        change = lambda: credit_notes.create_credit_note(None, doc(invoice.id), issue_date=ISSUE, lines=lines)  # noqa: E731
    message = refused(app, change, field="lines")
    assert message == "Quantities cannot be negative. Money owed to the customer is a credit note."
    assert count(app, Document, Document.kind == kind) == 0


def test_an_invoice_without_lines_is_refused_at_the_lines(app, customer):
    refused(app, lambda: documents.create_document(
        None, get(Customer, customer.id), Kind.invoice, issue_date=ISSUE, due_date=ISSUE, currency="EUR", lines=[]),
        field="lines")


# --- credit notes -------------------------------------------------------------------------------


def test_a_credit_note_reduces_what_is_outstanding_and_the_excess_becomes_customer_credit(app, owner, customer):
    invoice = create(app, customer)  # 121.00
    first = credit(app, invoice.id, "21.00", actor=owner)
    assert (first.kind, first.status, first.related_id, first.gross_total) == (
        Kind.credit_note, Status.issued, invoice.id, D("21.00"))
    assert (first.currency, first.language) == ("EUR", "en")
    assert state(app, invoice.id) == (Status.partially_paid, 0, D("21.00"), 0, D("100.00"))
    assert balance(app, customer.id) == {}

    second = credit(app, invoice.id, "150.00", actor=owner)
    assert state(app, invoice.id) == (Status.paid, 0, D("121.00"), 0, D("0.00"))
    assert balance(app, customer.id) == {"EUR": D("50.00")}
    # A third on a paid invoice: all of it is credit.
    credit(app, invoice.id, "5.00")
    assert balance(app, customer.id) == {"EUR": D("55.00")}
    assert state(app, invoice.id)[2] == D("121.00")
    assert [number for number in numbers(app, Kind.credit_note)] == ["CN-2025-00001", "CN-2025-00002", "CN-2025-00003"]
    assert ("invoice.credited", owner.id) in audit_trail(app, invoice.id)
    assert second.number == "CN-2025-00002"


def test_a_credit_note_in_vat_is_credited_with_its_gross_total(app, customer):
    invoice = create(app, customer, lines=[line("1000.00")])  # 1210.00
    note = credit(app, invoice.id, "100.00", vat="21")
    assert note.gross_total == D("121.00")
    assert state(app, invoice.id)[2:] == (D("121.00"), 0, D("1089.00"))


def test_a_credit_note_is_refused_for_drafts_cancelled_invoices_and_other_kinds(app, owner, customer):
    draft = create(app, customer, draft=True)
    cancelled = create(app, customer)
    request(app, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(cancelled.id), TODAY))
    quote = create(app, customer, Kind.quote)
    delivery = create(app, customer, Kind.delivery_note)
    reminder = remind(app, customer, [create(app, customer).id], fee="5.00")
    for target in (draft, cancelled, quote, delivery, reminder):
        message = refused(app, lambda: credit_notes.create_credit_note(
            None, doc(target.id), issue_date=TODAY, lines=[line("1.00", "0")]))
        assert message == "A credit note refers to an issued invoice that is not cancelled."
    assert count(app, Document, Document.kind == Kind.credit_note) == 0


def test_a_credit_note_cannot_be_dated_before_its_invoice(app, customer):
    invoice = create(app, customer)
    message = refused(app, lambda: credit_notes.create_credit_note(
        None, doc(invoice.id), issue_date=ISSUE - timedelta(days=1), lines=[line("1.00", "0")]), field="issue_date")
    assert message == "The credit note cannot be dated before its invoice."
    assert credit(app, invoice.id, "1.00", issue_date=ISSUE).issue_date == ISSUE  # the same day is fine


# --- customer credit ----------------------------------------------------------------------------


def _credit_of(app, customer, amount: str) -> None:
    """Customer credit from a credit note larger than its (paid) invoice."""
    invoice = create(app, customer, currency="EUR", issue_date=date(2025, 1, 2))
    credit(app, invoice.id, str(D("121.00") + D(amount)), issue_date=date(2025, 1, 3))
    assert balance(app, customer.id) == {"EUR": D(amount)}


def test_credit_settles_the_next_invoice_in_its_currency_when_settings_say_so(app, owner, customer):
    _credit_of(app, customer, "50.00")
    dollars = create(app, customer, currency="USD")
    assert state(app, dollars.id) == (Status.open, 0, 0, 0, D("121.00"))  # another currency: untouched
    assert balance(app, customer.id) == {"EUR": D("50.00")}

    invoice = create(app, customer)
    assert state(app, invoice.id) == (Status.partially_paid, D("50.00"), 0, 0, D("71.00"))
    assert balance(app, customer.id) == {}
    with app.app_context():
        [payment] = db.session.scalars(
            select(Payment).join(PaymentItem).where(PaymentItem.document_id == invoice.id)).all()
        assert (payment.provider, payment.amount, payment.currency, payment.booked_at is not None) == (
            "credit", D("50.00"), "EUR", True)
        payment_id = payment.id

    # Undoing the credit applied gives it back to the customer.
    request(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(invoice.id), payment_id))
    assert state(app, invoice.id) == (Status.open, 0, 0, 0, D("121.00"))
    assert balance(app, customer.id) == {"EUR": D("50.00")}


def test_credit_larger_than_the_next_invoice_pays_it_and_the_rest_stays(app, customer):
    _credit_of(app, customer, "200.00")
    invoice = create(app, customer)
    assert state(app, invoice.id) == (Status.paid, D("121.00"), 0, 0, 0)
    assert balance(app, customer.id) == {"EUR": D("79.00")}


def test_credit_settles_a_draft_when_it_is_issued_not_before(app, owner, customer):
    _credit_of(app, customer, "30.00")
    draft = create(app, customer, draft=True)
    assert balance(app, customer.id) == {"EUR": D("30.00")}
    request(app, lambda: documents.issue_draft(get(StaffUser, owner.id), doc(draft.id)))
    assert state(app, draft.id) == (Status.partially_paid, D("30.00"), 0, 0, D("91.00"))
    assert balance(app, customer.id) == {}


def test_credit_waits_for_staff_when_it_is_not_applied_automatically(app, owner, customer):
    set_settings(app, apply_credit_automatically=False)
    _credit_of(app, customer, "50.00")
    invoice = create(app, customer)
    assert state(app, invoice.id) == (Status.open, 0, 0, 0, D("121.00"))
    assert balance(app, customer.id) == {"EUR": D("50.00")}

    payment = request(app, lambda: credits.apply_credit(get(StaffUser, owner.id), doc(invoice.id)))
    assert (payment.provider, payment.amount, payment.recorded_by_id) == ("credit", D("50.00"), owner.id)
    assert state(app, invoice.id) == (Status.partially_paid, D("50.00"), 0, 0, D("71.00"))
    assert balance(app, customer.id) == {}
    assert request(app, lambda: credits.apply_credit(get(StaffUser, owner.id), doc(invoice.id))) is None


# --- quotes -------------------------------------------------------------------------------------


def test_a_quote_is_accepted_with_the_name_and_comment_of_who_decided(app, customer):
    quote = create(app, customer, Kind.quote, valid_until=ISSUE + timedelta(days=30))
    assert (quote.status, quote.number, quote.valid_until) == (Status.pending, "Q-2025-00001", date(2025, 4, 2))
    request(app, lambda: quotes.decide(doc(quote.id), accept=True, name="  Anna   de Vries ",
                                       comment=" Please start in May. ", today=ISSUE + timedelta(days=30)))
    decided = fresh(app, quote.id)
    assert (decided.status, decided.decided_by_name, decided.decision_comment) == (
        Status.accepted, "Anna de Vries", "Please start in May.")
    assert decided.decided_at is not None
    assert audit_trail(app, quote.id)[-1] == ("quote.accepted", None)

    message = refused(app, lambda: quotes.decide(doc(quote.id), accept=False, name="Bob", comment="", today=ISSUE))
    assert message == "This quote was already decided."
    assert fresh(app, quote.id).status == Status.accepted


def test_a_quote_is_rejected_by_staff_on_the_customers_behalf(app, owner, customer):
    quote = create(app, customer, Kind.quote)
    request(app, lambda: quotes.decide(doc(quote.id), accept=False, name="Klaus Wagner", comment="",
                                       today=ISSUE, actor=get(StaffUser, owner.id)))
    decided = fresh(app, quote.id)
    assert (decided.status, decided.decided_by_name, decided.decision_comment) == (Status.rejected, "Klaus Wagner", None)
    assert audit_trail(app, quote.id)[-1] == ("quote.rejected", owner.id)
    refused(app, lambda: quotes.decide(doc(quote.id), accept=True, name="Klaus Wagner", comment="", today=ISSUE))


def test_a_quote_cannot_be_accepted_after_it_expired(app, customer):
    quote = create(app, customer, Kind.quote, valid_until=ISSUE + timedelta(days=10))
    assert not quotes.is_expired(quote, ISSUE + timedelta(days=10))
    assert quotes.is_expired(quote, ISSUE + timedelta(days=11))
    message = refused(app, lambda: quotes.decide(doc(quote.id), accept=True, name="Anna", comment="",
                                                 today=ISSUE + timedelta(days=11)), field="name")
    assert message == "This quote expired on Mar 13, 2025 and can no longer be accepted."
    assert fresh(app, quote.id).status == Status.pending  # expired is derived, never stored
    assert quotes.is_expired(fresh(app, quote.id), ISSUE + timedelta(days=11))


def test_a_quote_decision_needs_a_name(app, customer):
    quote = create(app, customer, Kind.quote)
    for name in ("", "   ", None):
        assert refused(app, lambda: quotes.decide(doc(quote.id), accept=True, name=name, comment="Yes",
                                                  today=ISSUE), field="name") == "Enter your name."
    assert fresh(app, quote.id).status == Status.pending


def test_only_a_quote_is_decided(app, customer):
    invoice = create(app, customer)
    refused(app, lambda: quotes.decide(doc(invoice.id), accept=True, name="Anna", comment="", today=ISSUE))
    assert fresh(app, invoice.id).status == Status.open


def test_an_accepted_quote_becomes_an_order_confirmation_and_an_invoice(app, owner, customer):
    lines = [line("250.00", "21", "2", "Consulting"), line("80.00", "9", description="Travel")]
    quote = create(app, customer, Kind.quote, lines=lines)
    request(app, lambda: quotes.decide(doc(quote.id), accept=True, name="Anna", comment="", today=ISSUE))
    quote = fresh(app, quote.id)

    confirmation = request(app, lambda: quotes.convert(get(StaffUser, owner.id), doc(quote.id),
                                                       Kind.order_confirmation, TODAY))
    confirmation = fresh(app, confirmation.id)
    assert (confirmation.kind, confirmation.status, confirmation.number) == (
        Kind.order_confirmation, Status.issued, "OC-2025-00001")
    assert (confirmation.related_id, confirmation.issue_date, confirmation.due_date) == (quote.id, TODAY, None)

    invoice = request(app, lambda: quotes.convert(get(StaffUser, owner.id), doc(quote.id), Kind.invoice, TODAY))
    invoice = fresh(app, invoice.id)
    assert (invoice.kind, invoice.status, invoice.number, invoice.related_id) == (
        Kind.invoice, Status.draft, None, quote.id)
    assert (invoice.issue_date, invoice.due_date) == (TODAY, TODAY + timedelta(days=14))

    def lines_of(document):
        return [(x.description, x.quantity, x.unit_price, x.vat_rate, x.net_amount) for x in document.lines]

    for made in (confirmation, invoice):
        assert lines_of(made) == lines_of(quote)
        assert (made.net_total, made.tax_total, made.gross_total) == (quote.net_total, quote.tax_total,
                                                                       quote.gross_total) == (
            D("580.00"), D("112.20"), D("692.20"))
        assert (made.currency, made.customer_id) == (quote.currency, customer.id)


def test_a_quote_dated_after_today_converts_on_its_own_date(app, owner, customer):
    quote = create(app, customer, Kind.quote, issue_date=TODAY + timedelta(days=3))
    request(app, lambda: quotes.decide(doc(quote.id), accept=True, name="Anna", comment="", today=TODAY))
    invoice = request(app, lambda: quotes.convert(get(StaffUser, owner.id), doc(quote.id), Kind.invoice, TODAY))
    assert (invoice.issue_date, invoice.due_date) == (TODAY + timedelta(days=3), TODAY + timedelta(days=17))


def test_only_an_accepted_quote_is_converted_and_only_into_a_confirmation_or_an_invoice(app, owner, customer):
    pending = create(app, customer, Kind.quote)
    rejected = create(app, customer, Kind.quote)
    request(app, lambda: quotes.decide(doc(rejected.id), accept=False, name="Anna", comment="", today=ISSUE))
    invoice = create(app, customer)
    for source in (pending, rejected, invoice):
        for into in quotes.CONVERSIONS:
            message = refused(app, lambda: quotes.convert(get(StaffUser, owner.id), doc(source.id), into, TODAY))
            assert message == "Only an accepted quote becomes an order confirmation or an invoice."
    accepted = create(app, customer, Kind.quote)
    request(app, lambda: quotes.decide(doc(accepted.id), accept=True, name="Anna", comment="", today=ISSUE))
    for into in (Kind.delivery_note, Kind.credit_note, Kind.quote, Kind.reminder):
        refused(app, lambda: quotes.convert(get(StaffUser, owner.id), doc(accepted.id), into, TODAY), field="into")
    assert count(app, Document) == 4


# --- reminders ------------------------------------------------------------------------------------


def _overdue(app, customer, amount: str = "100.00", currency: str = "EUR") -> Document:
    """An invoice issued on ISSUE, due two weeks later: overdue by TODAY."""
    return create(app, customer, lines=[line(amount)], currency=currency)


def test_a_reminder_covers_overdue_invoices_with_its_level_fee_and_interest(app, owner, customer):
    first, second = _overdue(app, customer), _overdue(app, customer, "50.00")
    pay(app, owner, second.id, "20.50")
    reminder = remind(app, customer, [first.id, second.id], level=1, fee="7.50", interest="1.23")
    assert (reminder.kind, reminder.number, reminder.reminder_level) == (Kind.reminder, "R-2025-00001", 1)
    assert (reminder.fee, reminder.interest, reminder.gross_total, reminder.net_total, reminder.tax_total) == (
        D("7.50"), D("1.23"), D("8.73"), D("8.73"), D("0.00"))
    assert (reminder.status, reminder.outstanding, reminder.currency) == (Status.open, D("8.73"), "EUR")
    assert (reminder.issue_date, reminder.due_date, reminder.language) == (TODAY, TODAY + timedelta(days=7), "en")
    with app.app_context():
        items = reminders.items_of(doc(reminder.id))
        assert [(item.invoice_id, item.outstanding) for item in items] == [
            (first.id, D("121.00")), (second.id, D("40.00"))]

    # Its fee and interest are paid like an invoice.
    pay(app, owner, reminder.id, "8.73", received_on=TODAY)
    assert state(app, reminder.id) == (Status.paid, D("8.73"), 0, 0, D("0.00"))
    # the invoices it is about are not touched by it
    assert state(app, first.id)[0] == Status.open


def test_a_reminder_without_fee_or_interest_is_issued_with_nothing_to_pay(app, owner, customer):
    invoice = _overdue(app, customer)
    reminder = remind(app, customer, [invoice.id], level=2)
    assert (reminder.status, reminder.gross_total, reminder.fee, reminder.interest) == (
        Status.issued, D("0.00"), D("0.00"), D("0.00"))
    assert not reminder.is_overdue(TODAY + timedelta(days=100))
    refused(app, lambda: recorded_payments.write_off(get(StaffUser, owner.id), doc(reminder.id), TODAY))


def test_the_next_level_counts_up_per_invoice_to_the_final_notice(app, customer):
    a, b, c = _overdue(app, customer), _overdue(app, customer), _overdue(app, customer)

    def next_level(*invoices) -> int:
        with app.app_context():
            return reminders.next_level([i.id for i in invoices])

    assert next_level(a) == next_level(a, b) == 1
    remind(app, customer, [a.id, b.id], level=next_level(a, b))
    assert (next_level(a), next_level(b), next_level(c)) == (2, 2, 1)
    remind(app, customer, [a.id], level=next_level(a))
    assert (next_level(a), next_level(b), next_level(b, c), next_level(a, c)) == (3, 2, 2, 3)
    final = remind(app, customer, [a.id], level=next_level(a))
    assert final.reminder_level == 3
    assert next_level(a) == 3  # the final notice is the last level


def test_a_reminder_is_refused_for_another_customers_paid_or_mixed_currency_invoices(app, owner, customer):
    other = factories.customer(name="Other", language="en")
    mine, theirs = _overdue(app, customer), _overdue(app, other)
    paid = _overdue(app, customer)
    pay(app, owner, paid.id, "121.00")
    dollars = _overdue(app, customer, currency="USD")
    draft = create(app, customer, draft=True)
    quote = create(app, customer, Kind.quote)

    for invoices in ([mine, theirs], [paid], [draft], [quote]):
        refused(app, lambda: reminders.create_reminder(
            None, get(Customer, customer.id), [doc(i.id) for i in invoices], level=1, issue_date=TODAY),
            field="invoices")
    message = refused(app, lambda: reminders.create_reminder(
        None, get(Customer, customer.id), [doc(mine.id), doc(dollars.id)], level=1, issue_date=TODAY),
        field="invoices")
    assert message == "A reminder covers invoices in one currency."
    refused(app, lambda: reminders.create_reminder(
        None, get(Customer, customer.id), [], level=1, issue_date=TODAY), field="invoices")
    assert count(app, Document, Document.kind == Kind.reminder) == 0
    # In dollars alone it is fine, in dollars.
    assert remind(app, customer, [dollars.id]).currency == "USD"


@pytest.mark.parametrize(("values", "field"), [
    ({"fee": "-5.00"}, "fee"),
    ({"fee": "5.001"}, "fee"),
    ({"interest": "-0.01"}, "interest"),
    ({"level": 0}, "level"),
    ({"level": 4}, "level"),
])
def test_a_reminder_with_a_negative_fee_or_an_unknown_level_is_refused(app, customer, values, field):
    invoice = _overdue(app, customer)
    level = values.get("level", 1)
    fee, interest = values.get("fee"), values.get("interest")
    refused(app, lambda: reminders.create_reminder(
        None, get(Customer, customer.id), [doc(invoice.id)], level=level, issue_date=TODAY,
        fee=D(fee) if fee else None, interest=D(interest) if interest else None), field=field)
    assert count(app, Document, Document.kind == Kind.reminder) == 0
    assert count(app, ReminderItem) == 0


# --- delivery notes and order confirmations ---------------------------------------------------------


@pytest.mark.parametrize("kind", [Kind.delivery_note, Kind.order_confirmation])
def test_delivery_notes_and_order_confirmations_are_issued_with_nothing_to_pay(app, owner, customer, kind):
    document = create(app, customer, kind)
    assert (document.status, document.due_date) == (Status.issued, None)
    assert not document.is_overdue(TODAY + timedelta(days=1000))
    message = refused(app, lambda: recorded_payments.record_payment(
        get(StaffUser, owner.id), doc(document.id), amount=D("121.00"), received_on=TODAY, method="cash",
        today=TODAY, confirm_credit=True))
    assert message == "Payments are recorded on an issued invoice that is not cancelled."
    refused(app, lambda: recorded_payments.write_off(get(StaffUser, owner.id), doc(document.id), TODAY))
    refused(app, lambda: reminders.create_reminder(
        None, get(Customer, customer.id), [doc(document.id)], level=1, issue_date=TODAY), field="invoices")
    refused(app, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(document.id), TODAY))
    assert state(app, document.id)[:4] == (Status.issued, 0, 0, 0)
    assert count(app, Payment) == 0 and balance(app, customer.id) == {}


@pytest.mark.parametrize("kind", [Kind.quote, Kind.delivery_note, Kind.order_confirmation])
def test_only_invoices_have_drafts(app, customer, kind):
    assert refused(app, lambda: documents.create_document(
        None, get(Customer, customer.id), kind, issue_date=ISSUE, valid_until=ISSUE, currency="EUR",
        lines=[line()], draft=True)) == "Only invoices have drafts."
