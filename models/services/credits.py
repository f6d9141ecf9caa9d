"""Customer credit: money a customer has with the business, per currency.

Today it arises one way: a paid payment whose invoices were already settled when it was
booked (two checkouts for one invoice, both paid). That part is never added to an invoice
(no negative outstanding amount); it becomes a credit row here, with an audit event, and
staff see the balance on the customer's Overview to refund it or use it.

Not done yet: applying credit to the next invoice automatically, and recording a refund
(each would be a negative row here).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from models.db import db
from models.payments import CustomerCredit, Payment
from models.services import audit

OVERPAYMENT = "overpayment"


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
