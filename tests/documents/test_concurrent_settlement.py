"""Payments and credit notes on one invoice at the same moment keep exact amounts
(PostgreSQL only: SQLite lets one writer in at a time, so nothing races there).

Each racer is a request of its own: a thread with its own app context, session and
connection, calling the service and committing, all released together. However the
commits interleave, the invoice is never settled beyond its total, every cent beyond it
is customer credit, and all money in equals what was paid plus credited plus the credit.
"""

from __future__ import annotations

import os
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models.db import db
from models.documents import Document
from models.payments import CustomerCredit, Payment, PaymentItem
from models.services import credit_notes, documents, quotes, recorded_payments
from models.services.errors import DomainError
from models.staff import StaffUser
from tests.documents.test_life_of_documents import ISSUE, TODAY, D, Kind, Status, create, fresh, get, line

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:")),
    reason="needs PostgreSQL (set TEST_DATABASE_URL=postgresql://...): SQLite serialises all writers",
)


def race(app, actions) -> list:
    """Run each action in a thread of its own, as a request: app context, the action,
    commit (or rollback when refused). All start together. What each returned or raised."""
    start = threading.Barrier(len(actions))
    outcomes: list = [None] * len(actions)

    def run(n: int) -> None:
        with app.app_context():
            prepare, act = actions[n]
            try:
                loaded = prepare()  # read what the request works on before the others write
                start.wait(timeout=30)
                outcomes[n] = act(*loaded)
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - checked by the caller
                db.session.rollback()
                outcomes[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    return outcomes


def _payment(owner, invoice_id: int, amount: str):
    return (lambda: (get(StaffUser, owner.id), get(Document, invoice_id)),
            lambda actor, invoice: recorded_payments.record_payment(
                actor, invoice, amount=D(amount), received_on=TODAY, method="bank_transfer", today=TODAY,
                confirm_credit=True))


def _credit_note(owner, invoice_id: int, amount: str):
    return (lambda: (get(StaffUser, owner.id), get(Document, invoice_id)),
            lambda actor, invoice: credit_notes.create_credit_note(
                actor, invoice, issue_date=TODAY, lines=[line(amount, "0", description="Credit")]))


def _money(app, customer_id: int, invoice_id: int) -> dict:
    with app.app_context():
        def total(stmt):
            return db.session.scalar(stmt) or Decimal("0.00")
        return {
            "received": total(select(func.sum(Payment.amount)).where(
                Payment.customer_id == customer_id, Payment.provider == "manual", Payment.reversed_at.is_(None))),
            "items": total(select(func.sum(PaymentItem.amount)).join(Payment).where(
                PaymentItem.document_id == invoice_id, Payment.reversed_at.is_(None))),
            "credit_notes": total(select(func.sum(Document.gross_total)).where(
                Document.kind == Kind.credit_note, Document.related_id == invoice_id)),
            "credit": total(select(func.sum(CustomerCredit.amount)).where(CustomerCredit.customer_id == customer_id)),
            "credit_note_numbers": sorted(db.session.scalars(
                select(Document.number).where(Document.kind == Kind.credit_note))),
        }


@pytest.mark.parametrize(("payments", "credits"), [
    # more than the 1210.00 comes in: the excess is credit
    (["150.00", "99.99", "200.01", "0.01", "333.33", "120.00", "410.10"],
     ["100.00", "45.45", "250.00", "0.02", "77.77", "60.00"]),
    # less than the total comes in: every cent lands on the invoice, nothing is credit
    (["100.01", "99.99", "0.01", "150.00", "33.33"], ["10.00", "0.03", "200.00", "66.67", "12.34", "45.00"]),
], ids=["more than the total", "less than the total"])
def test_concurrent_payments_and_credit_notes_on_one_invoice_keep_exact_amounts(app, owner, customer, payments,
                                                                                  credits):
    invoice = create(app, customer, lines=[line("1000.00")])  # 1210.00
    actions = [_payment(owner, invoice.id, amount) for amount in payments]
    actions += [_credit_note(owner, invoice.id, amount) for amount in credits]
    outcomes = race(app, actions)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes

    money_in = sum(map(D, payments + credits), Decimal("0.00"))
    settled = fresh(app, invoice.id)
    money = _money(app, customer.id, invoice.id)
    assert settled.amount_paid + settled.amount_credited <= settled.gross_total
    assert settled.amount_paid + settled.amount_credited + money["credit"] == money_in
    assert money["received"] == sum(map(D, payments)) and money["credit_notes"] == sum(map(D, credits))
    assert money["items"] == settled.amount_paid  # what each payment gave the invoice adds up to it
    if money_in >= settled.gross_total:
        assert (settled.status, settled.outstanding) == (Status.paid, D("0.00"))
        assert money["credit"] == money_in - settled.gross_total
    else:
        assert (settled.status, settled.outstanding) == (Status.partially_paid, settled.gross_total - money_in)
        assert money["credit"] == D("0.00")
        assert (settled.amount_paid, settled.amount_credited) == (sum(map(D, payments)), sum(map(D, credits)))
    # and the credit notes took every number once, in order
    assert money["credit_note_numbers"] == [f"CN-{TODAY.year}-{n:05d}" for n in range(1, len(credits) + 1)]


def test_one_payment_form_sent_many_times_at_once_books_once(app, owner, customer):
    """A double click whose requests arrive together: the form's key books the money once."""
    invoice = create(app, customer, lines=[line("100.00")])  # 121.00
    actions = [(lambda: (get(StaffUser, owner.id), get(Document, invoice.id)),
                lambda actor, document: recorded_payments.record_payment(
                    actor, document, amount=D("50.00"), received_on=TODAY, method="bank_transfer", today=TODAY,
                    form_key="0123456789abcdef0123456789abcdef"))] * 6
    outcomes = race(app, actions)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert len({payment.id for payment in outcomes}) == 1
    settled = fresh(app, invoice.id)
    assert (settled.status, settled.amount_paid, settled.outstanding) == (Status.partially_paid, D("50.00"), D("71.00"))


def test_payments_racing_a_cancellation_either_come_first_or_are_refused(app, owner, customer):
    invoice = create(app, customer)  # 121.00, sent
    with app.app_context():
        documents.mark_sent(get(Document, invoice.id))
        db.session.commit()
    cancel = (lambda: (get(StaffUser, owner.id), get(Document, invoice.id)),
              lambda actor, document: credit_notes.cancel_invoice(actor, document, TODAY))
    outcomes = race(app, [_payment(owner, invoice.id, "50.00") for _ in range(5)] + [cancel])
    settled = fresh(app, invoice.id)
    cancelled = not isinstance(outcomes[-1], Exception)
    paid = [o for o in outcomes[:-1] if not isinstance(o, Exception)]
    assert all(isinstance(o, DomainError) for o in outcomes if isinstance(o, Exception)), outcomes
    if cancelled:  # it came first: no payment after it, the credit note settles it all
        assert (settled.status, settled.amount_paid, settled.amount_credited) == (Status.cancelled, 0, D("121.00"))
        assert paid == []
    else:  # a payment came first: cancelling was refused, all five are booked
        assert settled.status == Status.paid and len(paid) == 5
        assert settled.amount_paid == D("121.00")


def test_a_draft_issued_from_many_requests_at_once_gets_one_number(app, owner, customer):
    draft = create(app, customer, draft=True)
    issue = (lambda: (get(StaffUser, owner.id), get(Document, draft.id)), documents.issue_draft)
    outcomes = race(app, [issue] * 6)
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, DomainError) for o in outcomes if isinstance(o, Exception)), outcomes
    assert fresh(app, draft.id).number == f"{ISSUE.year}-00001"
    assert create(app, customer).number == f"{ISSUE.year}-00002"  # no number was lost


def test_a_quote_decided_from_many_requests_at_once_is_decided_once(app, customer):
    quote = create(app, customer, Kind.quote)
    actions = [(lambda: (get(Document, quote.id),),
                lambda document, n=n: quotes.decide(document, accept=n % 2 == 0, name=f"Person {n}", comment="",
                                                    today=ISSUE)) for n in range(6)]
    outcomes = race(app, actions)
    winners = [n for n, o in enumerate(outcomes) if not isinstance(o, Exception)]
    assert len(winners) == 1, outcomes
    decided = fresh(app, quote.id)
    assert decided.decided_by_name == f"Person {winners[0]}"
    assert decided.status == (Status.accepted if winners[0] % 2 == 0 else Status.rejected)
