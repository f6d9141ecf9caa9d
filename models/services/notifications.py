"""Staff actions that send customer e-mail: they write outbox rows, nothing more.

Routing (To/CC) and rendering happen when the worker sends, so a contact removed in the
meantime gets nothing and the customer's current language is used.
"""

from __future__ import annotations

from decimal import Decimal

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models import clock
from models.customers import Customer, customer_assignments
from models.db import db
from models.documents import UNPAID_STATUSES, Document, DocumentKind, DocumentStatus
from models.outbox import MailCategory, OutboundEmail
from models.services import audit, documents, instalments, outbox, reminders
from models.services.errors import DomainError
from models.staff import StaffRole, StaffUser

ACCOUNT_NOTICES = ("order_confirmed", "shipped", "subscription_changed")


# The e-mail that issues each kind: its template and category. Invoices, credit notes and
# reminders are money matters (category invoice); quotes, order confirmations and delivery
# notes are about the order (category account). Contact persons get them in CC by category.
DOCUMENT_MAIL = {
    DocumentKind.invoice: ("invoice_issued", MailCategory.invoice),
    DocumentKind.credit_note: ("document_credit_note", MailCategory.invoice),
    DocumentKind.reminder: ("document_reminder", MailCategory.invoice),
    DocumentKind.quote: ("document_quote", MailCategory.account),
    DocumentKind.order_confirmation: ("document_order_confirmation", MailCategory.account),
    DocumentKind.delivery_note: ("document_delivery_note", MailCategory.account),
}
DOCUMENT_TEMPLATES = frozenset(template for template, _ in DOCUMENT_MAIL.values())


def _document_context(document: Document) -> dict:
    """What a document's mail shows beyond the document's own columns, fixed when it is
    queued (the worker reads no relationships): a credit note's invoice, a reminder's invoices."""
    if document.kind == DocumentKind.credit_note and document.related is not None:
        return {"invoice_number": document.related.number}
    if document.kind == DocumentKind.reminder:
        items = reminders.items_of(document)
        numbers = dict(db.session.execute(
            select(Document.id, Document.number).where(Document.id.in_([item.invoice_id for item in items]))).all())
        return reminder_context([(numbers.get(item.invoice_id) or "", item.outstanding) for item in items],
                                document.gross_total)
    return {}


def reminder_context(invoices: list[tuple[str, Decimal]], own_total: Decimal) -> dict:
    """A reminder's mail context: its invoices as (number, outstanding) and the total due
    (theirs plus the reminder's own fee and interest)."""
    reminded = sum((outstanding for _number, outstanding in invoices), Decimal("0.00"))
    return {"invoices": [[number, str(outstanding)] for number, outstanding in invoices],
            "total_due": str(reminded + own_total)}


def send_document(actor: StaffUser, document: Document) -> OutboundEmail:
    """E-mail a document to the customer (To: their address; CC: contact persons subscribed
    to its category, decided when it is sent) with its own dossier URL. Not a draft, not a
    cancelled document. The document counts as sent from now on."""
    if document.status == DocumentStatus.draft:
        raise DomainError(_l("Issue the draft before sending it."))
    if document.status == DocumentStatus.cancelled:
        if document.kind == DocumentKind.invoice:
            raise DomainError(_l("A cancelled invoice is not sent."))
        raise DomainError(_l("A cancelled document is not sent."))
    template, category = DOCUMENT_MAIL[document.kind]
    email = outbox.queue_customer_email(document.customer, category, template, document=document,
                                        context=_document_context(document))
    documents.mark_sent(document)
    audit.record(actor, f"{document.kind.value}.sent", "document", document.id, customer_id=document.customer_id)
    return email


def send_invoice(actor: StaffUser, invoice: Document) -> OutboundEmail:
    """send_document for an invoice (any other kind is refused, as a cancelled invoice is)."""
    if invoice.kind != DocumentKind.invoice:
        raise DomainError(_l("A cancelled invoice is not sent."))
    return send_document(actor, invoice)


def responsible_staff(customer_id: int) -> StaffUser | None:
    """Who hears of what a customer did themselves (a quote decided, their details changed):
    the first (by name) active staff member assigned to the customer, else the first active owner."""
    assigned = db.session.scalar(
        select(StaffUser).join(customer_assignments, customer_assignments.c.staff_user_id == StaffUser.id)
        .where(customer_assignments.c.customer_id == customer_id, StaffUser.active.is_(True))
        .order_by(StaffUser.name, StaffUser.id).limit(1))
    if assigned is not None:
        return assigned
    return db.session.scalar(
        select(StaffUser).where(StaffUser.role == StaffRole.owner, StaffUser.active.is_(True))
        .order_by(StaffUser.id).limit(1))


def quote_decided(quote: Document) -> OutboundEmail | None:
    """Tell staff that the customer accepted or rejected a quote: a mail to that one staff
    member (in their language), with who decided, the comment and a link to the quote's
    staff page. None when there is nobody to tell (no active staff at all)."""
    if quote.kind != DocumentKind.quote or quote.status not in (DocumentStatus.accepted, DocumentStatus.rejected):
        raise DomainError(_l("Only an accepted or rejected quote is reported."))
    staff = responsible_staff(quote.customer_id)
    if staff is None:
        return None
    customer = quote.customer
    template = "document_quote_accepted" if quote.status == DocumentStatus.accepted else "document_quote_rejected"
    return outbox.queue_system_email(staff.email, template, context={
        "language": staff.language or "en",
        "staff_name": staff.name,
        "number": quote.number,
        "accepted": quote.status == DocumentStatus.accepted,
        "decided_by": quote.decided_by_name or "",
        "comment": quote.decision_comment or "",
        "customer_name": customer.display_name,
        "customer_number": customer.number,
        "total": str(quote.gross_total),
        "currency": quote.currency,
        "staff_url": current_app.config["BASE_URL"] + f"/admin/documents/{quote.id}",
    })


def reminder_is_early(invoice: Document) -> bool:
    """A reminder for an unpaid invoice that is not overdue yet (due today or later): staff
    are asked to confirm before it goes out."""
    return (invoice.status in UNPAID_STATUSES and invoice.due_date is not None
            and not invoice.is_overdue(clock.today()))


def send_reminder(actor: StaffUser, invoice: Document) -> OutboundEmail:
    if invoice.kind != DocumentKind.invoice or invoice.status not in UNPAID_STATUSES:
        raise DomainError(_l("Only an unpaid invoice gets a reminder."))
    if invoice.outstanding <= 0:
        raise DomainError(_l("Nothing is outstanding on this invoice: no reminder is sent."))
    if instalments.covers(invoice):
        raise DomainError(_l("Reminders for this invoice pause while its instalment plan runs."))
    email = outbox.queue_customer_email(
        invoice.customer, MailCategory.invoice, "invoice_reminder", document=invoice
    )
    audit.record(actor, "invoice.reminded", "document", invoice.id, customer_id=invoice.customer_id)
    return email


def send_account_notice(actor: StaffUser, customer: Customer, notice: str, message: str = "") -> OutboundEmail:
    if notice not in ACCOUNT_NOTICES:
        raise DomainError(_l("Choose which notice to send."), field="notice")
    email = outbox.queue_customer_email(
        customer, MailCategory.account, "account_notice",
        context={"notice": notice, "message": (message or "").strip()[:2000]},
    )
    audit.record(actor, "account_notice.sent", "customer", customer.id, customer_id=customer.id,
                 changes={"notice": [None, notice]})
    return email
