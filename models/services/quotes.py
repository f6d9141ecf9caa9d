"""Quotes: the customer (or staff on their behalf) accepts or rejects a pending quote before
it expires; an accepted quote becomes an order confirmation or a draft invoice in one click.

Expired is derived from `valid_until` like overdue from the due date, never stored.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.db import db, now_utc
from models.documents import Document, DocumentKind, DocumentStatus
from models.formatting import format_date
from models.services import audit, events, settlement
from models.services.documents import LineInput, create_document
from models.services.errors import DomainError
from models.staff import StaffUser

PAYMENT_TERM = timedelta(days=14)  # the due date of an invoice made from a quote
CONVERSIONS = (DocumentKind.order_confirmation, DocumentKind.invoice)


def is_expired(quote: Document, today: date) -> bool:
    return quote.status == DocumentStatus.pending and quote.valid_until is not None and quote.valid_until < today


def decide(quote: Document, *, accept: bool, name: str, comment: str, today: date,
           actor: StaffUser | None = None) -> Document:
    """Accept or reject a pending quote; `name` is who decided (the customer types theirs)."""
    if quote.kind != DocumentKind.quote:
        raise DomainError(_l("Only a quote is accepted or rejected."))
    settlement.lock_customer(quote.customer_id)
    db.session.refresh(quote)  # as it is now: the customer and staff may decide at the same moment
    if quote.status != DocumentStatus.pending:
        raise DomainError(_l("This quote was already decided."))
    if is_expired(quote, today):
        raise DomainError(_l("This quote expired on %(date)s and can no longer be accepted.",
                             date=format_date(quote.valid_until)), field="name")
    name = " ".join((name or "").split())[:200]
    if not name:
        raise DomainError(_l("Enter your name."), field="name")
    quote.status = DocumentStatus.accepted if accept else DocumentStatus.rejected
    quote.decided_at = now_utc()
    quote.decided_by_name = name
    quote.decision_comment = (comment or "").strip()[:2000] or None
    db.session.flush()
    audit.record(actor, "quote.accepted" if accept else "quote.rejected", "document", quote.id,
                 customer_id=quote.customer_id,
                 changes={"status": ["pending", quote.status.value], "name": [None, name],
                          "comment": [None, quote.decision_comment]})
    events.record("quote.accepted" if accept else "quote.rejected", customer=quote.customer, document=quote,
                  data={"decision": {"name": name, "comment": quote.decision_comment,
                                     "decided_at": quote.decided_at.isoformat(),
                                     "total": events.money(quote.gross_total), "currency": quote.currency}})
    return quote


def convert(actor: StaffUser, quote: Document, into: DocumentKind, today: date) -> Document:
    """An order confirmation (issued) or a draft invoice (staff check it, then issue it)
    with the quote's lines; it refers to the quote."""
    if quote.kind != DocumentKind.quote or quote.status != DocumentStatus.accepted:
        raise DomainError(_l("Only an accepted quote becomes an order confirmation or an invoice."))
    if into not in CONVERSIONS:
        raise DomainError(_l("Choose an order confirmation or an invoice."), field="into")
    settlement.lock_customer(quote.customer_id)  # a double click makes one, not two
    if db.session.scalar(select(Document.id).where(Document.related_id == quote.id, Document.kind == into)):
        raise DomainError(_l("This quote was already turned into one: see the documents made from it."))
    issue_date = max(today, quote.issue_date)
    return create_document(
        actor, quote.customer, into, issue_date=issue_date, currency=quote.currency,
        due_date=issue_date + PAYMENT_TERM if into == DocumentKind.invoice else None,
        draft=into == DocumentKind.invoice, related=quote, language=quote.language,
        lines=[LineInput(line.description, line.quantity, line.unit_price, line.vat_rate) for line in quote.lines],
    )
