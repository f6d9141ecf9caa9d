"""Reminders as documents: which overdue invoices, the level, an optional fee and interest.

The fee and interest are what the reminder itself asks on top of the invoices; they make
up its total, which is owed and paid like an invoice's (a reminder without them has
nothing of its own to pay and is simply issued).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from models.customers import Customer
from models.db import db
from models.documents import REMINDER_LEVELS, UNPAID_STATUSES, Document, DocumentKind, DocumentStatus, ReminderItem
from models.services import audit
from models.services.documents import MAX_TOTAL, allocate_number, external_number
from models.services.errors import DomainError
from models.staff import StaffUser

CENT = Decimal("0.01")
PAYMENT_TERM = timedelta(days=7)


def next_level(invoice_ids: list[int]) -> int:
    """One more than the highest level these invoices were reminded at (the final notice at most)."""
    highest = db.session.scalar(
        select(func.max(Document.reminder_level)).join(ReminderItem, ReminderItem.reminder_id == Document.id)
        .where(ReminderItem.invoice_id.in_(invoice_ids)))
    return min((highest or 0) + 1, REMINDER_LEVELS[-1])


def _amount(value: Decimal | None, field: str) -> Decimal:
    value = value or Decimal("0.00")
    if value < 0 or value != value.quantize(CENT) or value >= MAX_TOTAL:
        raise DomainError(_l("Enter an amount of zero or more, in cents at most."), field=field)
    return value


def create_reminder(actor: StaffUser | None, customer: Customer, invoices: list[Document], *, level: int,
                    issue_date: date, fee: Decimal | None = None, interest: Decimal | None = None,
                    number: str | None = None) -> Document:
    if level not in REMINDER_LEVELS:
        raise DomainError(_l("Choose the reminder level."), field="level")
    if not invoices:
        raise DomainError(_l("Choose the invoices this reminder is about."), field="invoices")
    fee, interest = _amount(fee, "fee"), _amount(interest, "interest")
    currencies = {invoice.currency for invoice in invoices}
    for invoice in invoices:
        if (invoice.customer_id != customer.id or invoice.kind != DocumentKind.invoice
                or invoice.status not in UNPAID_STATUSES or invoice.outstanding <= 0):
            raise DomainError(_l("Invoice %(number)s has nothing outstanding to remind of.", number=invoice.number),
                              field="invoices")
    if len(currencies) > 1:
        raise DomainError(_l("A reminder covers invoices in one currency."), field="invoices")
    total = fee + interest
    reminder = Document(
        customer_id=customer.id, kind=DocumentKind.reminder,
        number=external_number(DocumentKind.reminder, number) if (number or "").strip()
        else allocate_number(DocumentKind.reminder, issue_date),
        issue_date=issue_date, due_date=issue_date + PAYMENT_TERM, currency=currencies.pop(),
        status=DocumentStatus.open if total > 0 else DocumentStatus.issued,
        net_total=total, tax_total=Decimal("0.00"), gross_total=total, fee=fee, interest=interest,
        reminder_level=level, language=customer.language,
    )
    db.session.add(reminder)
    db.session.flush()
    db.session.add_all(ReminderItem(reminder_id=reminder.id, invoice_id=invoice.id, outstanding=invoice.outstanding)
                       for invoice in invoices)
    db.session.flush()
    audit.record(actor, "reminder.created", "document", reminder.id, customer_id=customer.id,
                 changes={"number": [None, reminder.number], "level": [None, level],
                          "invoices": [None, ", ".join(invoice.number for invoice in invoices)],
                          "fee": [None, str(fee)], "interest": [None, str(interest)]})
    return reminder


def items_of(reminder: Document) -> list[ReminderItem]:
    return list(db.session.scalars(
        select(ReminderItem).options(joinedload(ReminderItem.invoice))  # each item's invoice number, in one statement
        .where(ReminderItem.reminder_id == reminder.id).order_by(ReminderItem.id)))
