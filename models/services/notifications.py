"""Staff actions that send customer e-mail: they write outbox rows, nothing more.

Routing (To/CC) and rendering happen when the worker sends, so a contact removed in the
meantime gets nothing and the customer's current language is used.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from models import clock
from models.customers import Customer
from models.documents import UNPAID_STATUSES, Document, DocumentKind, DocumentStatus
from models.outbox import MailCategory, OutboundEmail
from models.services import audit, documents, instalments, outbox
from models.services.errors import DomainError
from models.staff import StaffUser

ACCOUNT_NOTICES = ("order_confirmed", "shipped", "subscription_changed")


def send_invoice(actor: StaffUser, invoice: Document) -> OutboundEmail:
    if invoice.kind != DocumentKind.invoice or invoice.status == DocumentStatus.cancelled:
        raise DomainError(_l("A cancelled invoice is not sent."))
    if invoice.status == DocumentStatus.draft:
        raise DomainError(_l("Issue the draft before sending it."))
    email = outbox.queue_customer_email(
        invoice.customer, MailCategory.invoice, "invoice_issued", document=invoice
    )
    documents.mark_sent(invoice)
    audit.record(actor, "invoice.sent", "document", invoice.id, customer_id=invoice.customer_id)
    return email


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
