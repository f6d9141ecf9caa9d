"""Money staff record by hand: a bank transfer, cash, …; undoing one; writing off a remainder.

A recorded payment is a `Payment` like an online one (provider "manual", booked at once),
so the invoice's payment list, the statement and the dashboard count it the same way.
It is booked under the customer lock through `settlement.change`. More than is
outstanding is refused unless staff confirm that the rest becomes customer credit.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timezone
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.db import db, now_utc
from models.documents import RECEIVABLE_KINDS, UNPAID_STATUSES, Document, DocumentStatus
from models.formatting import format_currency
from models.payments import CREDIT, MANUAL, RECORDED_METHODS, Payment, PaymentItem, PaymentStatus
from models.services import audit, credits, events, instalments, settlement
from models.services.documents import MAX_TOTAL, kept_form_key
from models.services.errors import DomainError, NotFound
from models.staff import StaffUser

CENT = Decimal("0.01")


class NeedsConfirmation(DomainError):
    """The amount is more than is outstanding: the form asks to confirm the credit."""


def _receivable(document: Document) -> None:
    if (document.kind not in RECEIVABLE_KINDS or document.status in (DocumentStatus.draft, DocumentStatus.cancelled)
            or document.gross_total <= 0):  # a reminder without fee or interest asks nothing itself
        raise DomainError(_l("Payments are recorded on an issued invoice that is not cancelled."))


def record_payment(actor: StaffUser | None, document: Document, *, amount: Decimal, received_on: date, method: str,
                   today: date, confirm_credit: bool = False, form_key: str | None = None) -> Payment:
    """`form_key` is the random key of the form the payment was typed into: the same form
    sent twice (a double click, a reload of the answer) books the money once."""
    _receivable(document)
    if method not in RECORDED_METHODS:
        raise DomainError(_l("Choose how the money came in."), field="method")
    if not amount.is_finite() or amount <= 0 or amount >= MAX_TOTAL or amount != amount.quantize(CENT):
        raise DomainError(_l("Enter an amount of more than zero, in cents at most."), field="amount")
    if received_on < document.issue_date:
        raise DomainError(_l("The payment cannot be dated before the invoice."), field="received_on")
    if received_on > today:
        raise DomainError(_l("The payment cannot be dated in the future."), field="received_on")
    settlement.lock_customer(document.customer_id)
    key = f"recorded-{kept}" if (kept := kept_form_key(form_key)) else None
    if key is not None:
        booked = db.session.scalar(select(Payment).join(PaymentItem).where(
            Payment.idempotency_key == key, PaymentItem.document_id == document.id))
        if booked is not None:  # this form was sent before: it is recorded already
            return booked
    db.session.refresh(document)
    _receivable(document)  # not cancelled meanwhile
    outstanding = max(document.outstanding, Decimal("0.00")) if document.status in UNPAID_STATUSES else Decimal("0.00")
    if amount > outstanding and not confirm_credit:
        raise NeedsConfirmation(
            _l("This is more than the %(outstanding)s outstanding. Confirm, and the rest becomes customer credit.",
               outstanding=format_currency(outstanding, document.currency)), field="amount")
    paid_at = datetime.combine(received_on, time(12), tzinfo=timezone.utc)
    part = min(amount, outstanding)
    payment = Payment(customer_id=document.customer_id, provider=MANUAL, idempotency_key=key or uuid.uuid4().hex,
                      amount=amount, currency=document.currency, status=PaymentStatus.paid, paid_at=paid_at,
                      booked_at=now_utc(), method=method, recorded_by_id=actor.id if actor else None,
                      items=[PaymentItem(document_id=document.id, amount=part)])
    db.session.add(payment)
    db.session.flush()
    if part > 0:
        settlement.change(document.id, paid=part)
    if amount > part:
        credits.add(document.customer_id, amount - part, document.currency, credits.OVERPAYMENT,
                    payment_id=payment.id, document_id=document.id)
    instalments.complete_settled(document.customer)
    audit.record(actor, "payment.recorded", "payment", payment.id, customer_id=document.customer_id,
                 changes={"amount": [None, f"{amount} {document.currency}"], "method": [None, method],
                          "received_on": [None, received_on.isoformat()], "document": [None, document.number]})
    events.payment_received(payment)
    return payment


def undo_payment(actor: StaffUser, document: Document, payment_id: int) -> Payment:
    """Undo a payment staff recorded (or credit applied): the invoice owes it again. Online
    payments are refunded at the provider, not here."""
    payment = db.session.scalar(
        select(Payment).join(PaymentItem).where(Payment.id == payment_id, PaymentItem.document_id == document.id))
    if payment is None:
        raise NotFound()
    if payment.provider not in (MANUAL, CREDIT):
        raise DomainError(_l("An online payment is refunded at the payment provider, not undone here."))
    settlement.lock_customer(document.customer_id)
    db.session.refresh(payment)
    if payment.reversed_at is not None:
        raise DomainError(_l("This payment was already undone."))
    extra = payment.amount - sum((item.amount for item in payment.items), Decimal("0.00"))
    if payment.provider != CREDIT and extra > credits.balance(document.customer_id).get(payment.currency, 0):
        # taking it back would leave the customer less than no credit
        raise DomainError(_l("The %(credit)s credit this payment left was already used: undo the credit applied "
                             "first.", credit=format_currency(extra, payment.currency)))
    payment.reversed_at = now_utc()
    for item in payment.items:
        settlement.change(item.document_id, paid=-item.amount)
    if payment.provider == CREDIT:  # the credit is the customer's again
        credits.add(document.customer_id, payment.amount, payment.currency, credits.REVERSED, document_id=document.id)
    elif extra > 0:  # the credit this payment made is taken back
        credits.add(document.customer_id, -extra, payment.currency, credits.REVERSED, document_id=document.id)
    db.session.flush()
    audit.record(actor, "payment.undone", "payment", payment.id, customer_id=document.customer_id,
                 changes={"amount": [f"{payment.amount} {payment.currency}", None], "document": [None, document.number]})
    return payment


def write_off(actor: StaffUser, document: Document, today: date) -> Decimal:
    """Give up on what is left: the invoice counts as settled, the statement shows it."""
    _receivable(document)
    settlement.lock_customer(document.customer_id)
    db.session.refresh(document)
    remainder = document.outstanding
    if document.status not in UNPAID_STATUSES or remainder <= 0:
        raise DomainError(_l("Nothing is outstanding on this invoice."))
    settlement.change(document.id, written_off=remainder, written_off_on=today)
    instalments.complete_settled(document.customer)
    audit.record(actor, "invoice.written_off", "document", document.id, customer_id=document.customer_id,
                 changes={"written_off": [None, f"{remainder} {document.currency}"]})
    return remainder
