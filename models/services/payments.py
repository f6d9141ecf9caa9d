"""Paying open invoices online, and booking what a provider reports — once.

Every way a payment can change ends in `record_state`: the test checkout's buttons, the
Mollie and Stripe webhooks, the debtor's return from the checkout, and `payments
reconcile`. So the rules live here once:

- a payment covers one invoice or all open invoices of one currency; its amount is the
  exact sum of what they had outstanding when it started (one PaymentItem per invoice);
- it is booked only when the provider says paid *and* the amount and currency are exactly
  what was asked (anything else is logged and audited, never booked);
- booking is a conditional UPDATE on `booked_at IS NULL`, so replayed, concurrent or
  out-of-order reports book once, and a late "failed" or "expired" never un-books;
- a booking adds each item to its invoice's amount paid in SQL (no lost update when two
  payments land at once), sets paid / partially paid, queues the "payment received" mail
  (invoice category: To the customer, CC the contacts who subscribed, at send time) and
  writes an audit event — all in the caller's transaction.

Like every service this flushes and never commits; the one exception to "one call, one
commit" is starting a payment: the row is committed *before* the provider is called, so a
checkout never exists at a provider without its row here (see portal.dossier_payments).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, literal, select, update

from models.audit import AuditEvent
from models.customers import Customer
from models.db import db, now_utc
from models.documents import UNPAID_STATUSES, Document, DocumentKind, DocumentStatus
from models.outbox import MailCategory
from models.payments import Payment, PaymentItem, PaymentStatus
from models.services import audit, instalments, providers
from models.services.errors import DomainError, NotFound
from models.services.outbox import queue_customer_email
from models.services.providers import CheckoutRequest, PaymentProvider, ProviderState

log = logging.getLogger(__name__)

# A second click on the same Pay button within this time goes to the same checkout.
REUSE_WINDOW = timedelta(minutes=10)
FINAL_FAILURES = (PaymentStatus.failed, PaymentStatus.canceled, PaymentStatus.expired)
TEST_OUTCOMES = {"success": PaymentStatus.paid, "failure": PaymentStatus.failed, "cancel": PaymentStatus.canceled}


class PaymentError(DomainError):
    """The payment cannot be started (nothing to pay, mixed currencies, …)."""


# --- what can be paid ------------------------------------------------------------------


def payable_invoices(customer_id: int, currency: str | None = None) -> list[Document]:
    """The customer's released invoices with something left to pay, oldest due first."""
    stmt = (
        select(Document)
        .where(
            Document.customer_id == customer_id,
            Document.kind == DocumentKind.invoice,
            Document.released_to_portal.is_(True),
            Document.status.in_(UNPAID_STATUSES),
            Document.gross_total > Document.amount_paid,
        )
        .order_by(Document.due_date, Document.id)
    )
    if currency is not None:
        stmt = stmt.where(Document.currency == currency)
    return list(db.session.scalars(stmt))


def _is_payable(invoice: Document) -> bool:
    return invoice.status in UNPAID_STATUSES and invoice.outstanding > 0


def start(customer: Customer, provider: PaymentProvider, *, invoice: Document | None = None,
          currency: str | None = None) -> Payment:
    """A payment for one invoice (`invoice`) or for all open invoices (of `currency`, which
    is needed only when the open invoices are in more than one currency).

    A click on the same button within REUSE_WINDOW returns the payment already started.
    """
    if invoice is not None:
        if invoice.customer_id != customer.id:
            raise NotFound()
        if not _is_payable(invoice):
            raise PaymentError(_l("This invoice has nothing left to pay."))
        invoices = [invoice]
    else:
        invoices = payable_invoices(customer.id)
        if currency:
            invoices = [i for i in invoices if i.currency == currency]
        if not invoices:
            raise PaymentError(_l("There are no open invoices to pay."))
        if len({i.currency for i in invoices}) > 1:
            raise PaymentError(_l("Your open invoices are in more than one currency: pay them one currency at a time."))
    currency = invoices[0].currency
    amount = sum((i.outstanding for i in invoices), Decimal("0.00"))
    items = sorted((i.id, i.outstanding) for i in invoices)

    reusable = _reusable(customer.id, provider.name, amount, currency, items)
    if reusable is not None:
        return reusable
    payment = Payment(
        customer_id=customer.id, provider=provider.name, idempotency_key=uuid.uuid4().hex,
        amount=amount, currency=currency, status=PaymentStatus.open,
        items=[PaymentItem(document_id=doc_id, amount=part) for doc_id, part in items],
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def _reusable(customer_id: int, provider: str, amount: Decimal, currency: str,
              items: list[tuple[int, Decimal]]) -> Payment | None:
    candidates = db.session.scalars(
        select(Payment)
        .where(
            Payment.customer_id == customer_id, Payment.provider == provider,
            Payment.status == PaymentStatus.open, Payment.booked_at.is_(None),
            Payment.provider_ref.is_not(None), Payment.amount == amount, Payment.currency == currency,
            Payment.created_at >= now_utc() - REUSE_WINDOW,
        )
        .order_by(Payment.id.desc())
        .limit(5)
    )
    for payment in candidates:
        if sorted((item.document_id, item.amount) for item in payment.items) == items:
            return payment
    return None


def _description(payment: Payment) -> str:
    numbers = invoice_numbers(payment)
    if len(numbers) == 1:
        return str(_l("Invoice %(number)s", number=numbers[0]))
    listed = ", ".join(numbers)
    if len(listed) > 180:
        listed = listed[:177] + "…"
    return str(_l("Invoices %(numbers)s", numbers=listed))


def invoice_numbers(payment: Payment) -> list[str]:
    return list(db.session.scalars(
        select(Document.number)
        .join(PaymentItem, PaymentItem.document_id == Document.id)
        .where(PaymentItem.payment_id == payment.id)
        .order_by(Document.due_date, Document.id)
    ))


def open_checkout(payment: Payment, provider: PaymentProvider, *, redirect_url: str, webhook_url: str,
                  locale: str = "en") -> None:
    """Create the checkout at the provider (with the payment's idempotency key, so a retry
    makes no second one) and remember its reference. A provider error marks the payment
    failed and is raised on (nothing was or can be paid)."""
    if payment.provider_ref is not None:
        return
    request = CheckoutRequest(
        amount=payment.amount, currency=payment.currency, description=_description(payment),
        redirect_url=redirect_url, webhook_url=webhook_url, idempotency_key=payment.idempotency_key,
        locale=locale, metadata={"payment_id": str(payment.id)},
    )
    try:
        checkout = provider.create_checkout(request)
    except providers.ProviderError:
        log.exception("payment %s: the provider %s refused the checkout", payment.id, provider.name)
        payment.status = PaymentStatus.failed
        db.session.flush()
        raise
    payment.provider_ref = checkout.reference
    payment.checkout_url = checkout.url
    db.session.flush()


# --- what a link may reach -------------------------------------------------------------


def customer_payment(customer: Customer, payment_id: int) -> Payment | None:
    """The payment if it is this customer's, else None (a 404)."""
    return db.session.scalar(select(Payment).where(Payment.id == payment_id, Payment.customer_id == customer.id))


# Provider references are printable ASCII (Mollie "tr_…", Stripe "cs_…"); anything else
# (a NUL byte, which PostgreSQL refuses outright) cannot be one of ours.
_REFERENCE = re.compile(r"[!-~]{1,100}")


def by_reference(provider: str, reference: str) -> Payment | None:
    if not reference or not _REFERENCE.fullmatch(reference):
        return None
    return db.session.scalar(select(Payment).where(Payment.provider == provider, Payment.provider_ref == reference))


@dataclass
class InvoicePayment:
    """One line of an invoice's payment list (staff)."""

    id: int
    provider: str
    provider_ref: str | None
    amount: Decimal  # what went to this invoice
    total: Decimal  # the whole payment (several invoices at once)
    currency: str
    status: PaymentStatus
    created_at: datetime
    paid_at: datetime | None


def for_invoice(document_id: int) -> list[InvoicePayment]:
    rows = db.session.execute(
        select(Payment.id, Payment.provider, Payment.provider_ref, PaymentItem.amount, Payment.amount,
               Payment.currency, Payment.status, Payment.created_at, Payment.paid_at)
        .join(PaymentItem, PaymentItem.payment_id == Payment.id)
        .where(PaymentItem.document_id == document_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
    )
    return [InvoicePayment(*row) for row in rows]


# --- booking -----------------------------------------------------------------------------


def record_state(payment: Payment, state: ProviderState) -> str:
    """Apply what the provider reports. Returns what happened: "booked", "already booked",
    "mismatch", "updated" (now failed / canceled / expired) or "ignored"."""
    if state.reference and payment.provider_ref and state.reference != payment.provider_ref:
        return "ignored"
    if state.status == PaymentStatus.paid:
        if state.amount is None or state.amount != payment.amount or (state.currency or "").upper() != payment.currency:
            _mismatch(payment, state)
            return "mismatch"
        now = now_utc()
        booked = db.session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.booked_at.is_(None))
            .values(status=PaymentStatus.paid, paid_at=state.paid_at or now, booked_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.expire(payment)
        if booked != 1:
            return "already booked"
        _book(payment)
        return "booked"
    if state.status in FINAL_FAILURES:
        changed = db.session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.booked_at.is_(None), Payment.status == PaymentStatus.open)
            .values(status=state.status)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.expire(payment)
        return "updated" if changed else "ignored"
    return "ignored"


_STATUS_TYPE = Document.__table__.c.status.type


def _book(payment: Payment) -> None:
    items = db.session.execute(
        select(PaymentItem.document_id, PaymentItem.amount).where(PaymentItem.payment_id == payment.id)
    ).all()
    for document_id, amount in items:
        paid_after = Document.amount_paid + amount
        db.session.execute(
            update(Document)
            .where(Document.id == document_id)
            .values(
                amount_paid=paid_after,
                # Right-hand sides see the row as it was: paid_after is the new total.
                status=case(
                    (Document.status.not_in(UNPAID_STATUSES), Document.status),
                    (Document.gross_total <= paid_after, literal(DocumentStatus.paid, _STATUS_TYPE)),
                    else_=literal(DocumentStatus.partially_paid, _STATUS_TYPE),
                ),
            )
            .execution_options(synchronize_session=False)
        )
    booked_ids = {document_id for document_id, _ in items}
    for loaded in list(db.session.identity_map.values()):  # loaded invoices show the new totals
        if isinstance(loaded, Document) and loaded.id in booked_ids:
            db.session.expire(loaded)
    customer = db.session.get(Customer, payment.customer_id)
    instalments.complete_settled(customer)  # a plan whose invoices are now all paid has ended
    numbers = invoice_numbers(payment)
    document = db.session.get(Document, items[0][0]) if len(items) == 1 else None
    queue_customer_email(
        customer, MailCategory.invoice, "payment_received", document=document,
        context={"payment_id": payment.id, "amount": str(payment.amount), "currency": payment.currency,
                 "invoices": numbers},
    )
    audit.record(
        None, "payment.received", "payment", payment.id, customer_id=payment.customer_id,
        changes={"amount": [None, f"{payment.amount} {payment.currency}"], "provider": [None, payment.provider],
                 "reference": [None, payment.provider_ref], "invoices": [None, ", ".join(numbers)]},
    )


def _mismatch(payment: Payment, state: ProviderState) -> None:
    """Paid, but not what was asked: never booked; staff see it once in the audit log."""
    log.warning("payment %s (%s %s): provider reports paid %s %s; not booked",
                payment.id, payment.provider, payment.provider_ref, state.amount, state.currency)
    seen = db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "payment.mismatch", AuditEvent.entity_type == "payment",
        AuditEvent.entity_id == payment.id,
    ).limit(1))
    if seen is None:
        audit.record(
            None, "payment.mismatch", "payment", payment.id, customer_id=payment.customer_id,
            changes={"amount": [f"{payment.amount} {payment.currency}", f"{state.amount} {state.currency}"],
                     "reference": [None, payment.provider_ref]},
        )


# --- the ways a state arrives ----------------------------------------------------------


def test_outcome(payment: Payment, outcome: str) -> str:
    """The test checkout's button: the test provider reports exactly what was asked. Like a
    real checkout page, it decides only a payment still open (a second tab pressing Success
    after Cancel books nothing)."""
    if payment.provider != "test" or outcome not in TEST_OUTCOMES:
        raise NotFound()
    if payment.status != PaymentStatus.open:
        return "ignored"
    state = ProviderState(reference=payment.provider_ref or "", status=TEST_OUTCOMES[outcome],
                          amount=payment.amount, currency=payment.currency)
    return record_state(payment, state)


def refresh(payment: Payment) -> str:
    """Ask the payment's provider for its state and record it (ProviderError is raised on;
    an unconfigured provider or an unknown reference changes nothing)."""
    if payment.booked_at is not None or payment.provider_ref is None:
        return "ignored"
    try:
        provider = providers.get(payment.provider)
    except providers.ProviderUnavailable:
        return "ignored"
    if not provider.external:
        return "ignored"
    state = provider.fetch(payment.provider_ref)
    return record_state(payment, state) if state is not None else "ignored"


def mollie_webhook(reference: str) -> str:
    """Mollie says "something changed about tr_…": only Mollie's own answer is booked."""
    payment = by_reference("mollie", reference)
    if payment is None:
        return "unknown"
    return refresh(payment)


def stripe_webhook(payload: bytes, signature: str | None) -> str:
    """A Stripe event, booked only when its signature is ours (InvalidSignature otherwise;
    ValueError for a signed but malformed body; ProviderUnavailable without keys)."""
    from models.services.providers.stripe import SESSION_EVENTS, session_state

    provider = providers.get("stripe")
    event = provider.verified_event(payload, signature)
    event_type = event.get("type")
    data = event.get("data")
    session = data.get("object") if isinstance(data, dict) else None
    if event_type not in SESSION_EVENTS or not isinstance(session, dict):
        return "ignored"
    state = session_state(session, event_type)
    payment = by_reference("stripe", state.reference)
    if payment is None:
        return "unknown"
    return record_state(payment, state)


def reconcile_candidates(days: int, now: datetime | None = None) -> list[int]:
    """Open payments of the last `days` at an external provider: each is asked again."""
    since = (now or now_utc()) - timedelta(days=days)
    return list(db.session.scalars(
        select(Payment.id)
        .where(Payment.status == PaymentStatus.open, Payment.booked_at.is_(None),
               Payment.provider_ref.is_not(None), Payment.provider != "test", Payment.created_at >= since)
        .order_by(Payment.id)
    ))
