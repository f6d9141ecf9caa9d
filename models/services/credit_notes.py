"""Credit notes, and cancelling an invoice (which may need one).

A credit note refers to an issued invoice. Issuing it reduces what is outstanding on that
invoice (its `amount_credited`); the part larger than what was left becomes customer
credit. Both happen under the customer lock, so concurrent payments and credit notes on
one invoice keep exact amounts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from models.db import db
from models.documents import Document, DocumentKind, DocumentStatus
from models.services import audit, credits, settlement
from models.services.documents import LineInput, create_document, made_from_form
from models.services.errors import DomainError
from models.staff import StaffUser


def create_credit_note(actor: StaffUser | None, invoice: Document, *, issue_date: date, lines: list[LineInput],
                       notes: str | None = None, number: str | None = None, form_key: str | None = None) -> Document:
    """`form_key`: the staff form's; that form sent again returns the credit note it made
    (documents.made_from_form): a credit note cannot be cancelled, a second would stay as credit."""
    if (made := made_from_form(invoice.customer_id, form_key)) is not None:
        return made
    if invoice.kind != DocumentKind.invoice or invoice.status in (DocumentStatus.draft, DocumentStatus.cancelled):
        raise DomainError(_l("A credit note refers to an issued invoice that is not cancelled."))
    if issue_date < invoice.issue_date:
        raise DomainError(_l("The credit note cannot be dated before its invoice."), field="issue_date")
    settlement.lock_customer(invoice.customer_id)
    db.session.refresh(invoice)
    if invoice.status == DocumentStatus.cancelled:  # meanwhile
        raise DomainError(_l("A credit note refers to an issued invoice that is not cancelled."))
    credit_note = create_document(
        actor, invoice.customer, DocumentKind.credit_note, issue_date=issue_date, currency=invoice.currency,
        lines=lines, notes=notes, number=number, related=invoice, language=invoice.language,
        released=invoice.released_to_portal, form_key=form_key,
    )
    applied = min(credit_note.gross_total, max(invoice.outstanding, Decimal("0.00")))
    if applied > 0:
        settlement.change(invoice.id, credited=applied)
    if credit_note.gross_total > applied:
        credits.add(invoice.customer_id, credit_note.gross_total - applied, invoice.currency, credits.CREDIT_NOTE,
                    document_id=credit_note.id)
    audit.record(actor, "invoice.credited", "document", invoice.id, customer_id=invoice.customer_id,
                 changes={"credit_note": [None, credit_note.number], "credited": [None, str(applied)],
                          "to_credit": [None, str(credit_note.gross_total - applied)]})
    return credit_note


def cancel_invoice(actor: StaffUser, invoice: Document, today: date) -> Document | None:
    """Cancel an issued invoice. One the customer was sent (e-mail or letter) is cancelled
    with a credit note for what is left on it, so the account statement still adds up;
    one nobody saw simply ends. Money received must be undone first (or credited)."""
    if invoice.kind != DocumentKind.invoice:
        raise DomainError(_l("Only an invoice can be cancelled."))
    if invoice.status == DocumentStatus.draft:
        raise DomainError(_l("A draft is deleted, not cancelled."))
    settlement.lock_customer(invoice.customer_id)
    db.session.refresh(invoice)  # as it is now: not cancelled or paid meanwhile
    if invoice.status == DocumentStatus.cancelled:
        raise DomainError(_l("This invoice is already cancelled."))
    if invoice.amount_paid > 0:
        raise DomainError(_l("Payments were received for this invoice: undo them or issue a credit note instead."))
    if invoice.outstanding <= 0:  # credited or written off in full: nothing is left to cancel
        raise DomainError(_l("Nothing is left on this invoice to cancel."))
    before = invoice.status.value  # the credit note below derives a new one
    credit_note = None
    remaining = invoice.outstanding
    # Seen by the customer, or already on the statement through a credit note: the rest is
    # credited too, so the statement still adds up.
    if (invoice.sent_at is not None or invoice.amount_credited > 0) and remaining > 0:
        # The credit note is the customer's document: its words in its language, not staff's.
        with force_locale(invoice.language or invoice.customer.language or "en"):
            cancellation = str(_l("Cancellation of invoice %(number)s", number=invoice.number))
        if remaining == invoice.gross_total:  # the invoice's own lines, VAT and all
            lines = [LineInput(line.description, line.quantity, line.unit_price, line.vat_rate)
                     for line in invoice.lines]
        else:  # what an earlier credit note or write-off left, as one amount
            lines = [LineInput(cancellation, Decimal("1"), remaining, Decimal("0"))]
        credit_note = create_credit_note(actor, invoice, issue_date=max(today, invoice.issue_date), lines=lines,
                                         notes=cancellation)
    invoice.status = DocumentStatus.cancelled
    db.session.flush()
    audit.record(actor, "invoice.cancelled", "document", invoice.id, customer_id=invoice.customer_id,
                 changes={"status": [before, "cancelled"],
                          "credit_note": [None, credit_note.number if credit_note else None]})
    return credit_note
