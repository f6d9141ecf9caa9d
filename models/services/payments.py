"""Paying open invoices online, and booking what a provider reports — once.

Every way a payment can change ends in `record_state`: the test checkout's buttons, the
Mollie and Stripe webhooks, the debtor's return from the checkout, and `payments
reconcile`. So the rules live here once:

- a payment covers one invoice, the invoices the debtor ticked, all open invoices of
  one currency, or one due instalment of the debtor's plan (`instalment`: its amount,
  spread over the plan's invoices oldest due first, never more than each has outstanding;
  booking it marks the instalment paid); its amount is the exact sum of what they had outstanding when it started
  and was not already in a live payment (one PaymentItem per invoice): Pay one plus Pay
  all, two tabs or a double click never put one amount into two payments (the customer
  row is locked while deciding);
- it is booked only when the provider says paid *and* the amount and currency are exactly
  what was asked (anything else is logged and audited, never booked);
- booking is a conditional UPDATE on `booked_at IS NULL`, so replayed, concurrent or
  out-of-order reports book once, and a late "failed" or "expired" never un-books;
- a booking (under the customer lock) adds each item to its invoice's amount paid, up to
  what is still outstanding, and sets paid / partially paid; money that finds nothing left
  to pay (two checkouts for one invoice, both paid) becomes customer credit with an audit
  event (models.services.credits), never a negative outstanding amount;
- it queues the "payment received" mail (invoice category: To the customer, CC the
  contacts who subscribed, at send time) and writes an audit event — all in the caller's
  transaction.

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
from sqlalchemy import select, update

from models import clock
from models.audit import AuditEvent
from models.customers import Customer
from models.db import db, now_utc
from models.documents import UNPAID_STATUSES, Document, DocumentKind, DocumentStatus
from models.formatting import format_date
from models.instalments import Instalment, PlanStatus
from models.outbox import MailCategory
from models.payments import CREDIT, MANUAL, Payment, PaymentItem, PaymentStatus
from models.services import audit, credits, events, instalments, providers, settlement
from models.services.errors import DomainError, NotFound
from models.services.outbox import queue_customer_email
from models.services.providers import CheckoutRequest, PaymentProvider, ProviderState

log = logging.getLogger(__name__)

# An open payment covers its invoices this long: Pay goes to its checkout instead of
# starting another. Stripe ends a checkout after 24 hours and Mollie sooner, each with a
# webhook; one we never heard of again stops blocking after this (if it is paid after all,
# what finds nothing left to pay becomes customer credit, see _book).
LIVE_FOR = timedelta(hours=24)
FINAL_FAILURES = (PaymentStatus.failed, PaymentStatus.canceled, PaymentStatus.expired)
TEST_OUTCOMES = {"success": PaymentStatus.paid, "failure": PaymentStatus.failed, "cancel": PaymentStatus.canceled}


class PaymentError(DomainError):
    """The payment cannot be started (nothing to pay, mixed currencies, …)."""


# --- what can be paid ------------------------------------------------------------------


def payable_invoices(customer_id: int, currency: str | None = None, *, ids: list[int] | None = None) -> list[Document]:
    """The customer's released invoices with something left to pay, oldest due first, as the
    database has them now (loaded invoices are refreshed: read after the customer lock)."""
    stmt = (
        select(Document)
        .where(
            Document.customer_id == customer_id,
            Document.kind == DocumentKind.invoice,
            Document.released_to_portal.is_(True),
            Document.status.in_(UNPAID_STATUSES),
            settlement.OUTSTANDING > 0,
        )
        .order_by(Document.due_date, Document.id)
    )
    if currency is not None:
        stmt = stmt.where(Document.currency == currency)
    if ids is not None:
        stmt = stmt.where(Document.id.in_(ids))
    return list(db.session.scalars(stmt.execution_options(populate_existing=True)))


class AlreadyBeingPaid(PaymentError):
    """Everything asked for is in payments already started and still open (`payments`):
    the debtor continues one of those rather than paying twice."""

    def __init__(self, payments: list[Payment]):
        super().__init__(
            _l("A payment you started already covers this. Continue it, or cancel it there and start again."))
        self.payments = payments


def _live_cover(customer_id: int, document_ids: list[int]) -> list:
    """(payment id, invoice id, amount) of the live payments covering these invoices: open
    at the provider, not booked, started within LIVE_FOR."""
    return list(db.session.execute(
        select(Payment.id, PaymentItem.document_id, PaymentItem.amount)
        .join(PaymentItem, PaymentItem.payment_id == Payment.id)
        .where(
            Payment.customer_id == customer_id, Payment.status == PaymentStatus.open, Payment.booked_at.is_(None),
            Payment.created_at >= now_utc() - LIVE_FOR, PaymentItem.document_id.in_(document_ids),
        )
        .order_by(Payment.id)
    ).all())


def _live_instalment_payments(instalment_id: int) -> list[Payment]:
    """Live payments (see _live_cover) of this one instalment."""
    return list(db.session.scalars(
        select(Payment)
        .where(Payment.instalment_id == instalment_id, Payment.status == PaymentStatus.open,
               Payment.booked_at.is_(None), Payment.created_at >= now_utc() - LIVE_FOR)
        .order_by(Payment.id)
    ))


def _instalment_items(customer: Customer, instalment: Instalment) -> tuple[str, list[tuple[int, Decimal]]]:
    """(currency, items) paying `instalment`: its amount over the plan's invoices oldest due
    first, each for at most what it has outstanding and not in a live payment. Refused when
    the plan is not active, the instalment is paid, not due yet, or in a live payment."""
    plan = instalment.plan
    if plan.customer_id != customer.id:
        raise NotFound()
    if plan.status != PlanStatus.active:
        raise PaymentError(_l("This instalment plan is not active: its instalments cannot be paid here."))
    if instalment.paid_at is not None:
        raise PaymentError(_l("This instalment has already been paid."))
    if instalment.due_date > clock.today():
        raise PaymentError(_l("This instalment is not due yet: you can pay it from %(date)s.",
                              date=format_date(instalment.due_date)))
    live = _live_instalment_payments(instalment.id)
    if live:
        raise AlreadyBeingPaid(live)
    invoices = payable_invoices(customer.id, plan.currency, ids=[d.id for d in plan.documents])
    if not invoices:
        raise PaymentError(_l("The invoices of this plan have nothing left to pay."))
    cover = _live_cover(customer.id, [i.id for i in invoices])
    covered: dict[int, Decimal] = {}
    for _payment_id, document_id, amount in cover:
        covered[document_id] = covered.get(document_id, Decimal("0.00")) + amount
    left = instalment.amount
    items: list[tuple[int, Decimal]] = []
    for invoice in invoices:  # oldest due first
        part = min(left, invoice.outstanding - covered.get(invoice.id, Decimal("0.00")))
        if part > 0:
            items.append((invoice.id, part))
            left -= part
        if left <= 0:
            break
    if left > 0 and cover:  # part of what it would pay is in a payment already started
        ids = sorted({payment_id for payment_id, _, _ in cover})
        raise AlreadyBeingPaid(list(db.session.scalars(select(Payment).where(Payment.id.in_(ids)).order_by(Payment.id))))
    if not items:
        raise PaymentError(_l("The invoices of this plan have nothing left to pay."))
    return plan.currency, sorted(items)


def start(customer: Customer, provider: PaymentProvider, *, invoice: Document | None = None,
          invoice_ids: list[int] | None = None, currency: str | None = None,
          instalment: Instalment | None = None) -> Payment:
    """A payment for one invoice (`invoice`), for the invoices the debtor ticked
    (`invoice_ids`, all in one currency), or for all open invoices (of `currency`, which is
    needed only when the open invoices are in more than one currency) — for only what is
    still outstanding and not in a live payment already.

    When a live payment already covers all of it: a second click on the same button (the
    same invoices) returns that payment, to go to its checkout again; anything else raises
    AlreadyBeingPaid naming the payments to continue. The customer row is locked first, so
    concurrent clicks are decided one after the other.

    `instalment`: a due, unpaid instalment of the customer's active plan, for exactly its
    amount (less only when its invoices have less left to pay); refused (PaymentError,
    AlreadyBeingPaid) when not due, paid already or in a live payment.
    """
    if invoice is not None and invoice.customer_id != customer.id:
        raise NotFound()
    settlement.lock_customer(customer.id)
    if instalment is not None:
        db.session.refresh(instalment)  # as the database has it after the lock
        currency, items = _instalment_items(customer, instalment)
        return _new_payment(customer, provider, currency, items, instalment_id=instalment.id)
    if invoice is not None:
        invoices = payable_invoices(customer.id, ids=[invoice.id])
        if not invoices:
            raise PaymentError(_l("This invoice has nothing left to pay."))
    elif invoice_ids is not None:
        if not invoice_ids:
            raise PaymentError(_l("Tick the invoices you want to pay."))
        # Only this customer's invoices are found (the caller has checked the ids are theirs).
        invoices = payable_invoices(customer.id, ids=sorted(set(invoice_ids)))
        if not invoices:
            raise PaymentError(_l("The invoices you ticked have nothing left to pay."))
        if len({i.currency for i in invoices}) > 1:
            raise PaymentError(_l("The invoices you ticked are in more than one currency: pay them one currency at a time."))
    else:
        invoices = payable_invoices(customer.id, currency or None)
        if not invoices:
            raise PaymentError(_l("There are no open invoices to pay."))
        if len({i.currency for i in invoices}) > 1:
            raise PaymentError(_l("Your open invoices are in more than one currency: pay them one currency at a time."))
    currency = invoices[0].currency

    cover = _live_cover(customer.id, [i.id for i in invoices])
    covered: dict[int, Decimal] = {}
    for _payment_id, document_id, amount in cover:
        covered[document_id] = covered.get(document_id, Decimal("0.00")) + amount
    items = [(i.id, i.outstanding - covered.get(i.id, Decimal("0.00"))) for i in invoices]
    items = sorted((doc_id, part) for doc_id, part in items if part > 0)
    if not items:
        return _covering(cover, {i.id for i in invoices}, provider.name)
    return _new_payment(customer, provider, currency, items)


def _new_payment(customer: Customer, provider: PaymentProvider, currency: str, items: list[tuple[int, Decimal]],
                 instalment_id: int | None = None) -> Payment:
    payment = Payment(
        customer_id=customer.id, provider=provider.name, idempotency_key=uuid.uuid4().hex,
        amount=sum((part for _, part in items), Decimal("0.00")), currency=currency, status=PaymentStatus.open,
        items=[PaymentItem(document_id=doc_id, amount=part) for doc_id, part in items],
        instalment_id=instalment_id,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def _covering(cover: list[tuple[int, int, Decimal]], wanted: set[int], provider: str) -> Payment:
    """Everything wanted is in live payments: the one payment of exactly these invoices (a
    repeated click), else AlreadyBeingPaid with the payments that cover them."""
    ids = sorted({payment_id for payment_id, _, _ in cover})
    payments = list(db.session.scalars(select(Payment).where(Payment.id.in_(ids)).order_by(Payment.id)))
    if (len(payments) == 1 and payments[0].provider == provider and payments[0].instalment_id is None
            and {i.document_id for i in payments[0].items} == wanted):
        return payments[0]
    raise AlreadyBeingPaid(payments)


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
    method: str | None  # recorded by staff: bank_transfer, cash, other; "credit": credit applied
    reversed_at: datetime | None  # undone by staff: no longer counts

    @property
    def can_undo(self) -> bool:
        return self.provider in (MANUAL, CREDIT) and self.reversed_at is None


def for_invoice(document_id: int) -> list[InvoicePayment]:
    rows = db.session.execute(
        select(Payment.id, Payment.provider, Payment.provider_ref, PaymentItem.amount, Payment.amount,
               Payment.currency, Payment.status, Payment.created_at, Payment.paid_at, Payment.method,
               Payment.reversed_at)
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
        settlement.lock_customer(payment.customer_id)  # bookings for one customer, one after the other
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


def _book(payment: Payment) -> None:
    """Add each item to its invoice, up to what the invoice still has outstanding (the
    caller holds the customer lock, so that is read once, correctly); what finds nothing
    left to pay becomes customer credit, never a negative outstanding amount."""
    items = db.session.execute(
        select(PaymentItem.document_id, PaymentItem.amount, Document.status, settlement.OUTSTANDING)
        .join(Document, Document.id == PaymentItem.document_id)
        .where(PaymentItem.payment_id == payment.id)
        .order_by(PaymentItem.document_id)
    ).all()
    applied = Decimal("0.00")
    for document_id, amount, status, outstanding in items:
        room = outstanding if status in UNPAID_STATUSES else Decimal("0.00")
        part = min(amount, max(room, Decimal("0.00")))
        if part > 0:
            applied += part
            settlement.change(document_id, paid=part)
    if payment.instalment_id is not None:  # the instalment it was for is paid
        db.session.execute(
            update(Instalment)
            .where(Instalment.id == payment.instalment_id, Instalment.paid_at.is_(None))
            .values(paid_at=payment.paid_at or now_utc())
            .execution_options(synchronize_session=False)
        )
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
    if payment.amount > applied:
        credits.add_overpayment(payment, payment.amount - applied, numbers)
    events.payment_received(payment)


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
