"""Staff corrections of issued documents, through the services as a request calls them:
cancelling (with a credit note once it was sent), recording and undoing payments received
outside the portal, writing off a remainder; what is refused, at which field; and two
requests that act on the same document at about the same time (the second one's copy of
it is stale by the time it writes).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.payments import CustomerCredit, Payment, PaymentItem
from models.services import credit_notes, credits, documents, notifications, quotes, recorded_payments, reminders
from models.services.errors import DomainError, NotFound
from models.services.recorded_payments import NeedsConfirmation
from models.staff import StaffUser
from tests import factories
from tests.documents.test_life_of_documents import (
    ISSUE,
    TODAY,
    D,
    Kind,
    Status,
    audit_trail,
    balance,
    count,
    create,
    credit,
    doc,
    exists,
    fresh,
    get,
    line,
    numbers,
    pay,
    refused,
    request,
    state,
)

PAID_ON = ISSUE + timedelta(days=5)


@pytest.fixture
def invoice(app, customer) -> Document:
    """Issued on ISSUE for 121.00 (100.00 + 21 % VAT), two lines."""
    return create(app, customer, lines=[line("60.00", description="Design"), line("40.00", description="Print")])


def mark_sent(app, document_id: int) -> None:
    request(app, lambda: documents.mark_sent(doc(document_id)))


def cancel(app, owner, document_id: int):
    return request(app, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(document_id), TODAY))


def record(owner, document_id: int, amount: str, **values):
    values = {"received_on": PAID_ON, "method": "bank_transfer", "today": TODAY, **values}
    return lambda: recorded_payments.record_payment(get(StaffUser, owner.id), doc(document_id), amount=D(amount),
                                                    **values)


def changes_of(app, action: str) -> dict:
    with app.app_context():
        return db.session.scalar(select(AuditEvent.changes).where(AuditEvent.action == action))


# --- cancelling -----------------------------------------------------------------------------


def test_an_invoice_nobody_was_sent_is_cancelled_without_a_credit_note(app, owner, invoice):
    assert cancel(app, owner, invoice.id) is None
    assert state(app, invoice.id) == (Status.cancelled, 0, 0, 0, D("121.00"))
    assert count(app, Document, Document.kind == Kind.credit_note) == 0
    assert audit_trail(app, invoice.id)[-1] == ("invoice.cancelled", owner.id)
    assert changes_of(app, "invoice.cancelled") == {"status": ["open", "cancelled"], "credit_note": [None, None]}


def test_a_sent_invoice_is_cancelled_with_a_credit_note_of_its_own_lines(app, owner, invoice):
    mark_sent(app, invoice.id)
    note = cancel(app, owner, invoice.id)
    note = fresh(app, note.id)
    original = fresh(app, invoice.id)
    assert (note.kind, note.status, note.number, note.related_id) == (
        Kind.credit_note, Status.issued, "CN-2025-00001", invoice.id)
    assert (note.issue_date, note.currency, note.customer_id) == (TODAY, "EUR", invoice.customer_id)
    assert [(x.description, x.quantity, x.unit_price, x.vat_rate) for x in note.lines] == [
        (x.description, x.quantity, x.unit_price, x.vat_rate) for x in original.lines]
    assert (note.net_total, note.tax_total, note.gross_total) == (D("100.00"), D("21.00"), D("121.00"))
    assert note.notes == f"Cancellation of invoice {invoice.number}"
    # The invoice is cancelled and nothing is left on it; nothing became credit.
    assert state(app, invoice.id) == (Status.cancelled, 0, D("121.00"), 0, D("0.00"))
    assert balance(app, invoice.customer_id) == {}
    assert [action for action, _ in audit_trail(app, invoice.id)][-2:] == ["invoice.credited", "invoice.cancelled"]
    # The audit says what the invoice was before it was cancelled, not what the credit note made it.
    assert changes_of(app, "invoice.cancelled") == {"status": ["open", "cancelled"],
                                                     "credit_note": [None, "CN-2025-00001"]}


def test_a_sent_invoice_already_partly_credited_is_cancelled_with_a_credit_note_for_the_rest(app, owner, invoice):
    mark_sent(app, invoice.id)
    credit(app, invoice.id, "21.00")
    note = fresh(app, cancel(app, owner, invoice.id).id)
    assert [(x.description, x.quantity, x.unit_price, x.vat_rate) for x in note.lines] == [
        (f"Cancellation of invoice {invoice.number}", D("1.000"), D("100.00"), D("0.00"))]
    assert (note.gross_total, note.related_id, note.number) == (D("100.00"), invoice.id, "CN-2025-00002")
    assert state(app, invoice.id) == (Status.cancelled, 0, D("121.00"), 0, D("0.00"))
    assert changes_of(app, "invoice.cancelled")["status"] == ["partially_paid", "cancelled"]


def test_the_cancelling_credit_note_speaks_the_customers_language(app, owner):
    """The credit note is the customer's document: staff working in English cancel a German
    customer's invoice, and the customer reads German on it (notes and the remainder's line)."""
    kunde = factories.customer(name="Kunde GmbH", email="kunde@example.test", language="de")
    invoice = create(app, kunde, lines=[line("100.00", description="Beratung")])
    mark_sent(app, invoice.id)
    credit(app, invoice.id, "21.00")
    note = fresh(app, cancel(app, owner, invoice.id).id)
    assert note.notes == f"Stornierung der Rechnung {invoice.number}"
    assert [x.description for x in note.lines] == [f"Stornierung der Rechnung {invoice.number}"]


def test_a_written_off_invoice_has_nothing_left_to_cancel(app, owner, invoice):
    """Written off in full, it is settled: cancelling would take it off the statement while
    the write-off stayed on it."""
    mark_sent(app, invoice.id)
    request(app, lambda: recorded_payments.write_off(get(StaffUser, owner.id), doc(invoice.id), TODAY))
    message = refused(app, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(invoice.id), TODAY))
    assert message == "Nothing is left on this invoice to cancel."
    assert state(app, invoice.id) == (Status.paid, 0, 0, D("121.00"), 0)


def test_an_invoice_with_payments_is_not_cancelled_until_they_are_undone(app, owner, invoice):
    mark_sent(app, invoice.id)
    payment = pay(app, owner, invoice.id, "21.00")
    message = refused(app, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(invoice.id), TODAY))
    assert message == "Payments were received for this invoice: undo them or issue a credit note instead."
    assert state(app, invoice.id) == (Status.partially_paid, D("21.00"), 0, 0, D("100.00"))
    assert count(app, Document, Document.kind == Kind.credit_note) == 0

    request(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(invoice.id), payment.id))
    assert fresh(app, cancel(app, owner, invoice.id).id).gross_total == D("121.00")
    assert state(app, invoice.id)[0] == Status.cancelled


def test_an_invoice_paid_from_customer_credit_is_not_cancelled_either(app, owner, customer, invoice):
    credit(app, invoice.id, "171.00")  # 50.00 customer credit
    settled = create(app, customer)
    assert state(app, settled.id)[:2] == (Status.partially_paid, D("50.00"))
    refused(app, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(settled.id), TODAY))


def test_only_an_issued_invoice_that_is_not_cancelled_is_cancelled(app, owner, customer, invoice):
    cancel(app, owner, invoice.id)
    assert refused(app, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(invoice.id), TODAY)) == (
        "This invoice is already cancelled.")
    draft = create(app, customer, draft=True)
    assert refused(app, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(draft.id), TODAY)) == (
        "A draft is deleted, not cancelled.")
    quote = create(app, customer, Kind.quote)
    refused(app, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(quote.id), TODAY))
    assert fresh(app, draft.id).status == Status.draft and fresh(app, quote.id).status == Status.pending


def test_every_action_on_a_cancelled_invoice_is_refused(app, owner, customer, invoice):
    cancel(app, owner, invoice.id)
    actor = lambda: get(StaffUser, owner.id)  # noqa: E731
    attempts = {
        "record a payment": record(owner, invoice.id, "10.00", confirm_credit=True),
        "write off": lambda: recorded_payments.write_off(actor(), doc(invoice.id), TODAY),
        "credit": lambda: credit_notes.create_credit_note(None, doc(invoice.id), issue_date=TODAY,
                                                          lines=[line("1.00", "0")]),
        "cancel": lambda: credit_notes.cancel_invoice(actor(), doc(invoice.id), TODAY),
        "edit": lambda: documents.update_draft(actor(), doc(invoice.id), issue_date=ISSUE, due_date=ISSUE,
                                               currency="EUR", lines=[line()]),
        "issue": lambda: documents.issue_draft(actor(), doc(invoice.id)),
        "delete": lambda: documents.delete_draft(actor(), doc(invoice.id)),
        "send": lambda: notifications.send_invoice(actor(), doc(invoice.id)),
        "remind": lambda: reminders.create_reminder(None, get(Customer, customer.id), [doc(invoice.id)], level=1,
                                                    issue_date=TODAY),
    }
    for what, attempt in attempts.items():
        with app.app_context():
            with pytest.raises(DomainError):
                attempt()
                pytest.fail(f"{what} was not refused")
            db.session.rollback()
    assert state(app, invoice.id) == (Status.cancelled, 0, 0, 0, D("121.00"))
    assert count(app, Payment) == count(app, CustomerCredit) == 0
    assert count(app, Document) == 1
    with app.app_context():
        assert credits.apply_credit(None, doc(invoice.id)) is None


def test_a_draft_is_not_sent_cancelled_paid_written_off_or_credited(app, owner, customer):
    draft = create(app, customer, draft=True)
    actor = lambda: get(StaffUser, owner.id)  # noqa: E731
    assert refused(app, lambda: notifications.send_invoice(actor(), doc(draft.id))) == "Issue the draft before sending it."
    refused(app, lambda: credit_notes.cancel_invoice(actor(), doc(draft.id), TODAY))
    refused(app, record(owner, draft.id, "10.00", confirm_credit=True))
    refused(app, lambda: recorded_payments.write_off(actor(), doc(draft.id), TODAY))
    refused(app, lambda: credit_notes.create_credit_note(None, doc(draft.id), issue_date=TODAY,
                                                         lines=[line("1.00", "0")]))
    assert fresh(app, draft.id).status == Status.draft
    assert fresh(app, draft.id).sent_at is None
    assert count(app, Payment) == 0 and count(app, Document) == 1


# --- recording payments ---------------------------------------------------------------------------


def test_more_than_is_outstanding_asks_to_confirm_that_the_rest_becomes_credit(app, owner, invoice):
    pay(app, owner, invoice.id, "21.00")
    message = refused(app, record(owner, invoice.id, "150.00"), field="amount", error=NeedsConfirmation)
    assert message == ("This is more than the €100.00 outstanding. Confirm, and the rest becomes customer credit.")
    assert count(app, Payment) == 1
    assert state(app, invoice.id)[:2] == (Status.partially_paid, D("21.00"))

    payment = request(app, record(owner, invoice.id, "150.00", confirm_credit=True))
    assert state(app, invoice.id) == (Status.paid, D("121.00"), 0, 0, D("0.00"))
    assert balance(app, invoice.customer_id) == {"EUR": D("50.00")}
    with app.app_context():
        assert get(Payment, payment.id).amount == D("150.00")  # the money received, all of it
        assert [(i.document_id, i.amount) for i in get(Payment, payment.id).items] == [(invoice.id, D("100.00"))]
        [row] = db.session.scalars(select(CustomerCredit)).all()
        assert (row.amount, row.reason, row.payment_id, row.document_id) == (
            D("50.00"), credits.OVERPAYMENT, payment.id, invoice.id)

    # Undone, the invoice owes it again and the credit it made is taken back.
    request(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(invoice.id), payment.id))
    assert state(app, invoice.id) == (Status.partially_paid, D("21.00"), 0, 0, D("100.00"))
    assert balance(app, invoice.customer_id) == {}


def test_the_exact_remainder_needs_no_confirmation(app, owner, invoice):
    pay(app, owner, invoice.id, "0.01")
    pay(app, owner, invoice.id, "120.99")
    assert state(app, invoice.id) == (Status.paid, D("121.00"), 0, 0, D("0.00"))


def test_money_for_a_paid_invoice_is_all_credit_once_confirmed(app, owner, invoice):
    pay(app, owner, invoice.id, "121.00")
    assert "the €0.00 outstanding" in refused(app, record(owner, invoice.id, "121.00"), field="amount",
                                             error=NeedsConfirmation)
    request(app, record(owner, invoice.id, "121.00", confirm_credit=True))
    assert state(app, invoice.id)[:2] == (Status.paid, D("121.00"))
    assert balance(app, invoice.customer_id) == {"EUR": D("121.00")}


@pytest.mark.parametrize("amount", ["0", "0.00", "-5.00", "0.001", "10.005", "1e17", "NaN", "Infinity", "-Infinity"])
def test_an_amount_of_zero_or_less_sub_cent_or_beyond_any_invoice_is_refused_at_the_amount(app, owner, invoice, amount):
    refused(app, record(owner, invoice.id, amount, confirm_credit=True), field="amount")
    assert count(app, Payment) == 0
    assert state(app, invoice.id) == (Status.open, 0, 0, 0, D("121.00"))


@pytest.mark.parametrize("received_on", [ISSUE - timedelta(days=1), TODAY + timedelta(days=1)])
def test_a_payment_dated_before_the_invoice_or_in_the_future_is_refused_at_its_date(app, owner, invoice, received_on):
    refused(app, record(owner, invoice.id, "10.00", received_on=received_on), field="received_on")
    assert count(app, Payment) == 0
    for day in (ISSUE, TODAY):  # the invoice's own date and today are fine
        assert request(app, record(owner, invoice.id, "10.00", received_on=day)).paid_at.date() == day


def test_a_payment_needs_a_known_method(app, owner, invoice):
    refused(app, record(owner, invoice.id, "10.00", method="cheque"), field="method")
    for method in ("bank_transfer", "cash", "other"):
        assert request(app, record(owner, invoice.id, "10.00", method=method)).method == method


def test_only_payments_recorded_by_staff_or_credit_applied_are_undone_and_only_on_their_own_document(
        app, owner, customer, invoice):
    other = create(app, customer)
    payment = pay(app, owner, invoice.id, "10.00")
    with app.app_context():
        with pytest.raises(NotFound):
            recorded_payments.undo_payment(get(StaffUser, owner.id), doc(other.id), payment.id)
        db.session.rollback()
    with app.app_context():
        online = Payment(customer_id=customer.id, provider="mollie", provider_ref="tr_1", idempotency_key="k1",
                         amount=D("5.00"), currency="EUR", status="paid", items=[PaymentItem(document_id=other.id,
                                                                                              amount=D("5.00"))])
        db.session.add(online)
        db.session.commit()
        online_id = online.id
    assert refused(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(other.id), online_id)) == (
        "An online payment is refunded at the payment provider, not undone here.")
    assert state(app, invoice.id)[:2] == (Status.partially_paid, D("10.00"))


def test_an_overpayment_whose_credit_was_used_is_undone_only_after_that_credit_is_given_back(
        app, owner, customer, invoice):
    overpaid = request(app, record(owner, invoice.id, "150.00", confirm_credit=True))  # 29.00 credit
    later = create(app, customer)  # settled from it at once
    assert state(app, later.id)[:2] == (Status.partially_paid, D("29.00"))
    assert balance(app, customer.id) == {}

    message = refused(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(invoice.id),
                                                                 overpaid.id))
    assert message == "The €29.00 credit this payment left was already used: undo the credit applied first."
    assert state(app, invoice.id)[:2] == (Status.paid, D("121.00"))
    assert balance(app, customer.id) == {}  # never less than nothing

    with app.app_context():
        applied = db.session.scalar(select(Payment.id).where(Payment.provider == "credit"))
    request(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(later.id), applied))
    assert balance(app, customer.id) == {"EUR": D("29.00")}
    request(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(invoice.id), overpaid.id))
    assert state(app, invoice.id) == (Status.open, 0, 0, 0, D("121.00"))
    assert state(app, later.id) == (Status.open, 0, 0, 0, D("121.00"))
    assert balance(app, customer.id) == {}


# --- writing off ------------------------------------------------------------------------------------


def test_a_remainder_written_off_leaves_nothing_outstanding(app, owner, invoice):
    pay(app, owner, invoice.id, "100.00")
    written_off = request(app, lambda: recorded_payments.write_off(get(StaffUser, owner.id), doc(invoice.id), TODAY))
    assert written_off == D("21.00")
    assert state(app, invoice.id) == (Status.paid, D("100.00"), 0, D("21.00"), D("0.00"))
    assert fresh(app, invoice.id).written_off_on == TODAY
    assert not fresh(app, invoice.id).is_overdue(TODAY + timedelta(days=100))
    assert audit_trail(app, invoice.id)[-1] == ("invoice.written_off", owner.id)

    assert refused(app, lambda: recorded_payments.write_off(get(StaffUser, owner.id), doc(invoice.id), TODAY)) == (
        "Nothing is outstanding on this invoice.")
    assert state(app, invoice.id)[3] == D("21.00")


def test_undoing_a_payment_after_a_write_off_owes_only_that_payment_again(app, owner, invoice):
    payment = pay(app, owner, invoice.id, "100.00")
    request(app, lambda: recorded_payments.write_off(get(StaffUser, owner.id), doc(invoice.id), TODAY))
    request(app, lambda: recorded_payments.undo_payment(get(StaffUser, owner.id), doc(invoice.id), payment.id))
    assert state(app, invoice.id) == (Status.partially_paid, 0, 0, D("21.00"), D("100.00"))


# --- two requests on one document: the second one's copy is stale -------------------------------------


def stale(app, document_id: int, by_another_request, then):
    """Load the document in one request; meanwhile `by_another_request` runs and commits;
    then this request acts on its (now stale) copy with `then(document)`. Returns what
    `then` raised, or None."""
    with app.app_context():
        document = doc(document_id)
        document.status  # noqa: B018 - loaded as the first request saw it
        request(app, by_another_request)  # a request of its own (its own app context and session)
        try:
            then(document)
            db.session.commit()
            return None
        except DomainError as error:
            db.session.rollback()
            return error


def test_a_draft_issued_twice_at_once_keeps_its_first_number(app, owner, customer):
    draft = create(app, customer, draft=True)
    error = stale(app, draft.id, lambda: documents.issue_draft(get(StaffUser, owner.id), doc(draft.id)),
                  lambda copy: documents.issue_draft(get(StaffUser, owner.id), copy))
    assert error is not None
    assert (fresh(app, draft.id).number, fresh(app, draft.id).status) == ("2025-00001", Status.open)
    assert create(app, customer).number == "2025-00002"  # no number was lost
    assert [action for action, _ in audit_trail(app, draft.id)].count("invoice.issued") == 1


def test_a_draft_issued_meanwhile_is_neither_edited_nor_deleted(app, owner, customer):
    draft = create(app, customer, draft=True)
    issue = lambda: documents.issue_draft(get(StaffUser, owner.id), doc(draft.id))  # noqa: E731
    assert stale(app, draft.id, issue, lambda copy: documents.update_draft(
        get(StaffUser, owner.id), copy, issue_date=ISSUE, due_date=ISSUE, currency="EUR",
        lines=[line("5.00")])) is not None
    assert fresh(app, draft.id).gross_total == D("121.00")

    other = create(app, customer, draft=True)
    assert stale(app, other.id, lambda: documents.issue_draft(get(StaffUser, owner.id), doc(other.id)),
                 lambda copy: documents.delete_draft(get(StaffUser, owner.id), copy)) is not None
    assert exists(app, other.id)
    assert numbers(app, Kind.invoice) == ["2025-00001", "2025-00002"]


def test_a_draft_deleted_meanwhile_is_not_issued(app, owner, customer):
    draft = create(app, customer, draft=True)
    assert stale(app, draft.id, lambda: documents.delete_draft(get(StaffUser, owner.id), doc(draft.id)),
                 lambda copy: documents.issue_draft(get(StaffUser, owner.id), copy)) is not None
    assert not exists(app, draft.id)
    assert create(app, customer).number == "2025-00001"


def test_no_credit_note_for_an_invoice_cancelled_meanwhile(app, owner, invoice):
    error = stale(app, invoice.id, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(invoice.id), TODAY),
                  lambda copy: credit_notes.create_credit_note(None, copy, issue_date=TODAY, lines=[line("10.00", "0")]))
    assert error is not None
    assert state(app, invoice.id) == (Status.cancelled, 0, 0, 0, D("121.00"))
    assert count(app, Document, Document.kind == Kind.credit_note) == 0


def test_no_payment_for_an_invoice_cancelled_meanwhile(app, owner, invoice):
    error = stale(app, invoice.id, lambda: credit_notes.cancel_invoice(get(StaffUser, owner.id), doc(invoice.id), TODAY),
                  lambda copy: recorded_payments.record_payment(
                      get(StaffUser, owner.id), copy, amount=D("10.00"), received_on=TODAY, method="cash",
                      today=TODAY, confirm_credit=True))
    assert error is not None and type(error) is DomainError
    assert count(app, Payment) == 0 and balance(app, invoice.customer_id) == {}


def test_a_payment_recorded_meanwhile_is_counted_before_the_next_one(app, owner, invoice):
    """The copy says 121.00 is outstanding; another request just recorded 100.00."""
    error = stale(app, invoice.id, record(owner, invoice.id, "100.00"),
                  lambda copy: recorded_payments.record_payment(
                      get(StaffUser, owner.id), copy, amount=D("100.00"), received_on=TODAY, method="cash",
                      today=TODAY))
    assert type(error) is NeedsConfirmation and error.field == "amount"
    assert state(app, invoice.id)[:2] == (Status.partially_paid, D("100.00"))


def test_a_quote_decided_meanwhile_is_not_decided_again(app, customer):
    quote = create(app, customer, Kind.quote)
    error = stale(app, quote.id,
                  lambda: quotes.decide(doc(quote.id), accept=True, name="Anna", comment="", today=ISSUE),
                  lambda copy: quotes.decide(copy, accept=False, name="Klaus", comment="", today=ISSUE))
    assert error is not None and str(error.message) == "This quote was already decided."
    decided = fresh(app, quote.id)
    assert (decided.status, decided.decided_by_name) == (Status.accepted, "Anna")
