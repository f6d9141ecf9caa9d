"""Recording business events (models.events) in the caller's transaction."""

from __future__ import annotations

from typing import Any

from models.customers import Customer
from models.db import db
from models.documents import Document
from models.events import EVENT_TYPES, Event


def record(type_: str, *, customer: Customer | None = None, document: Document | None = None,
           data: dict[str, Any] | None = None) -> Event:
    """Add an event; it is listed and delivered only if the caller's transaction commits."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    payload: dict[str, Any] = {}
    if customer is not None:
        payload["customer"] = {"id": customer.id, "number": customer.number, "external_id": customer.external_id}
    if document is not None:
        payload["document"] = {"id": document.id, "kind": document.kind.value, "number": document.number,
                               "external_id": document.external_id}
    payload.update(data or {})
    event = Event(type=type_, customer_id=customer.id if customer else None,
                  document_id=document.id if document else None, data=payload)
    db.session.add(event)
    db.session.flush()
    return event
