"""Customer credit: money a customer has with the business, per currency.

It arises from money that found nothing left to pay: a paid payment whose invoices were
already settled (two checkouts for one invoice), a payment staff recorded for more than was
outstanding, or a credit note larger than what was left on its invoice. That part is never
added to an invoice (no negative outstanding amount); it becomes a credit row here, with an
audit event, and staff see the balance on the customer's Overview.

Credit is used by `apply_credit`: on request by staff, or automatically when an invoice
is issued (settings). It is booked like a payment (provider "credit", so it never counts as
money received) with a negative credit row.

Not done: recording a refund paid out to the customer (it would be a negative row here).
"""

from __future__ import annotations

from decimal import Decimal

import uuid

from sqlalchemy import func, select

from models.db import db, now_utc
from models.documents import UNPAID_STATUSES, Document
from models.payments import CREDIT, CustomerCredit, Payment, PaymentItem, PaymentStatus
from models.services import audit, settlement
from models.staff import StaffUser

OVERPAYMENT = "overpayment"
CREDIT_NOTE = "credit_note"
APPLIED = "applied"
REVERSED = "reversed"


def add_overpayment(payment: Payment, amount: Decimal, invoice_numbers: list[str]) -> CustomerCredit:
    """The part of `payment` that found nothing left to pay; the caller holds the customer lock."""
    credit = CustomerCredit(customer_id=payment.customer_id, amount=amount, currency=payment.currency,
                            payment_id=payment.id, reason=OVERPAYMENT)
    db.session.add(credit)
    audit.record(
        None, "payment.overpaid", "payment", payment.id, customer_id=payment.customer_id,
        changes={"credit": [None, f"{amount} {payment.currency}"], "reference": [None, payment.provider_ref],
                 "invoices": [None, ", ".join(invoice_numbers)]},
    )
    return credit


def balance(customer_id: int) -> dict[str, Decimal]:
    """The customer's credit per currency, only where it is not zero."""
    rows = db.session.execute(
        select(CustomerCredit.currency, func.sum(CustomerCredit.amount))
        .where(CustomerCredit.customer_id == customer_id)
        .group_by(CustomerCredit.currency)
        .order_by(CustomerCredit.currency)
    )
    return {currency: total for currency, total in rows if total}


def with_credit(customer_ids: set[int]) -> set[tuple[int, str]]:
    """Which of these customers have credit, in which currency: (customer id, currency)
    pairs, in one statement (a batch of new invoices asks once, not per invoice)."""
    if not customer_ids:
        return set()
    rows = db.session.execute(
        select(CustomerCredit.customer_id, CustomerCredit.currency)
        .where(CustomerCredit.customer_id.in_(customer_ids))
        .group_by(CustomerCredit.customer_id, CustomerCredit.currency)
        .having(func.sum(CustomerCredit.amount) > 0)
    )
    return {(customer_id, currency) for customer_id, currency in rows}


def add(customer_id: int, amount: Decimal, currency: str, reason: str, *, document_id: int | None = None,
        payment_id: int | None = None) -> CustomerCredit:
    """A credit row (negative: credit used or taken back); the caller holds the customer lock."""
    credit = CustomerCredit(customer_id=customer_id, amount=amount, currency=currency, reason=reason,
                            document_id=document_id, payment_id=payment_id)
    db.session.add(credit)
    return credit


def apply_credit(actor: StaffUser | None, invoice: Document) -> Payment | None:
    """Settle what it can of `invoice` from the customer's credit in its currency."""
    if invoice.status not in UNPAID_STATUSES or balance(invoice.customer_id).get(invoice.currency, 0) <= 0:
        return None  # the common case decides without taking the customer lock
    settlement.lock_customer(invoice.customer_id)
    db.session.refresh(invoice)
    amount = min(balance(invoice.customer_id).get(invoice.currency, Decimal("0.00")), invoice.outstanding)
    if invoice.status not in UNPAID_STATUSES or amount <= 0:
        return None
    now = now_utc()
    payment = Payment(customer_id=invoice.customer_id, provider=CREDIT, idempotency_key=uuid.uuid4().hex,
                      amount=amount, currency=invoice.currency, status=PaymentStatus.paid, paid_at=now,
                      booked_at=now, method=CREDIT, recorded_by_id=actor.id if actor else None,
                      items=[PaymentItem(document_id=invoice.id, amount=amount)])
    db.session.add(payment)
    db.session.flush()
    add(invoice.customer_id, -amount, invoice.currency, APPLIED, document_id=invoice.id)
    settlement.change(invoice.id, paid=amount)
    audit.record(actor, "credit.applied", "document", invoice.id, customer_id=invoice.customer_id,
                 changes={"credit": [None, f"{amount} {invoice.currency}"], "invoice": [None, invoice.number]})
    return payment
