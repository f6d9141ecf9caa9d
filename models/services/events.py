"""Recording business events (models.events) in the caller's transaction.

Each event is recorded once, by the domain service that owns the rule (so the admin, the
portal and the API all emit it the same way). Payloads are small and stable: ids, numbers
and external ids to match records in the business's own package, amounts as strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from models.contacts import ContactPerson
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.events import EVENT_TYPES, Event
from models.payments import Payment, PaymentItem
from models.services import webhooks


def record(type_: str, *, customer: Customer | None = None, document: Document | None = None,
           data: dict[str, Any] | None = None) -> Event:
    """Add an event and its webhook deliveries; it is listed and delivered only if the caller's
    transaction commits."""
    event = _built(type_, customer, document, data)
    db.session.add(event)
    db.session.flush()
    webhooks.fan_out(event)  # its deliveries, in the same transaction
    return event


def record_all(events: list[Event]) -> list[Event]:
    """Events built by `_built` (a batch's, e.g. intake.upsert_customers) added at once: one
    flush (the ORM's multi-row INSERT) and one fan-out for all of them."""
    if events:
        db.session.add_all(events)
        db.session.flush()
        webhooks.fan_out_all(events)
    return events


def _built(type_: str, customer: Customer | None, document: Document | None,
           data: dict[str, Any] | None) -> Event:
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    payload: dict[str, Any] = {}
    if customer is not None:
        payload["customer"] = {"id": customer.id, "number": customer.number, "external_id": customer.external_id}
    if document is not None:
        payload["document"] = {"id": document.id, "kind": document.kind.value, "number": document.number,
                               "external_id": document.external_id}
    payload.update(data or {})
    return Event(type=type_, customer_id=customer.id if customer else None,
                 document_id=document.id if document else None, data=payload)


def money(amount: Decimal) -> str:
    """An amount as the payloads carry it: a string with two decimals, never a float."""
    return str(amount.quantize(Decimal("0.01")))


def payment_received(payment: Payment) -> Event:
    """`payment.received` for a booked payment (online or recorded by staff): what came in,
    and how much of it went to which invoice (the rest became customer credit)."""
    rows = db.session.execute(
        select(Document.id, Document.number, Document.external_id, PaymentItem.amount)
        .join(PaymentItem, PaymentItem.document_id == Document.id)
        .where(PaymentItem.payment_id == payment.id)
        .order_by(Document.id)
    ).all()
    customer = db.session.get(Customer, payment.customer_id)
    document = db.session.get(Document, rows[0].id) if len(rows) == 1 else None
    return record("payment.received", customer=customer, document=document, data={"payment": {
        "id": payment.id,
        "amount": money(payment.amount),
        "currency": payment.currency,
        "provider": payment.provider,
        "method": payment.method,
        "reference": payment.provider_ref,
        "paid_at": payment.paid_at.isoformat() if payment.paid_at else None,
        "invoices": [{"id": r.id, "number": r.number, "external_id": r.external_id, "amount": money(r.amount)}
                     for r in rows],
    }})


def contact_persons_changed(contact: ContactPerson, action: str, changed: list[str] | tuple[str, ...]) -> Event:
    """`contact_persons.changed`: one contact person added, updated, removed, or their own
    choice of what they receive ("preferences"); `changed` names the fields that changed."""
    return record("contact_persons.changed", customer=db.session.get(Customer, contact.customer_id),
                  data=_contact_change(contact, action, changed))


def contact_persons_changed_event(contact: ContactPerson, action: str, changed: list[str] | tuple[str, ...],
                                  customer: Customer) -> Event:
    """The event contact_persons_changed records, built for `record_all` (a batch's)."""
    return _built("contact_persons.changed", customer, None, _contact_change(contact, action, changed))


def _contact_change(contact: ContactPerson, action: str, changed) -> dict[str, Any]:
    return {
        "action": action,
        "changed": sorted(changed),
        "contact_person": {
            "id": contact.id, "name": contact.name, "email": contact.email, "phone": contact.phone,
            "role": contact.role.value, "invoice_emails": contact.invoice_emails,
            "account_emails": contact.account_emails,
        },
    }
