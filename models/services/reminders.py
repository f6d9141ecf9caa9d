"""Reminders as documents: which overdue invoices, the level, an optional fee and interest.

The fee and interest are what the reminder itself asks on top of the invoices; they make
up its total, which is owed and paid like an invoice's (a reminder without them has
nothing of its own to pay and is simply issued).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from models.customers import Customer
from models.db import db, now_utc
from models.documents import REMINDER_LEVELS, UNPAID_STATUSES, Document, DocumentKind, DocumentStatus, ReminderItem
from models.services import audit, bulk
from models.services.documents import (
    MAX_TOTAL,
    allocate_number,
    allocate_numbers,
    external_number,
    kept_form_key,
    made_from_form,
)
from models.services.errors import DomainError
from models.staff import StaffUser

CENT = Decimal("0.01")
PAYMENT_TERM = timedelta(days=7)


def highest_level(invoice_ids: list[int]) -> int:
    """The highest level these invoices were reminded at (0: never)."""
    return db.session.scalar(
        select(func.max(Document.reminder_level)).join(ReminderItem, ReminderItem.reminder_id == Document.id)
        .where(ReminderItem.invoice_id.in_(invoice_ids))) or 0


def next_level(invoice_ids: list[int]) -> int:
    """One more than the highest level these invoices were reminded at (the final notice at most)."""
    return min(highest_level(invoice_ids) + 1, REMINDER_LEVELS[-1])


def _amount(value: Decimal | None, field: str) -> Decimal:
    value = value or Decimal("0.00")
    if value < 0 or value != value.quantize(CENT) or value >= MAX_TOTAL:
        raise DomainError(_l("Enter an amount of zero or more, in cents at most."), field=field)
    return value


def create_reminder(actor: StaffUser | None, customer: Customer, invoices: list[Document], *, level: int,
                    issue_date: date, fee: Decimal | None = None, interest: Decimal | None = None,
                    number: str | None = None, form_key: str | None = None) -> Document:
    """`form_key`: the staff form's; that form sent again returns the reminder it made
    (documents.made_from_form)."""
    if (made := made_from_form(customer.id, form_key)) is not None:
        return made
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
    if issue_date < max(invoice.issue_date for invoice in invoices):
        raise DomainError(_l("A reminder cannot be dated before the invoices it reminds of."), field="issue_date")
    reminder = Document(**_columns(
        customer.id, customer.language, currencies.pop(), level=level, issue_date=issue_date, fee=fee,
        interest=interest, number=external_number(DocumentKind.reminder, number) if (number or "").strip()
        else allocate_number(DocumentKind.reminder, issue_date)), form_key=kept_form_key(form_key))
    db.session.add(reminder)
    db.session.flush()
    db.session.add_all(ReminderItem(reminder_id=reminder.id, invoice_id=invoice.id, outstanding=invoice.outstanding)
                       for invoice in invoices)
    db.session.flush()
    audit.record(actor, "reminder.created", "document", reminder.id, customer_id=customer.id,
                 changes=_created(reminder.number, level, [invoice.number for invoice in invoices], fee, interest))
    return reminder


def _columns(customer_id: int, language: str | None, currency: str, *, level: int, issue_date: date,
             fee: Decimal, interest: Decimal, number: str) -> dict:
    """A reminder's own columns: fee and interest make its total; without them it owes
    nothing itself and is simply issued; it is due PAYMENT_TERM after it is written."""
    total = fee + interest
    return dict(
        customer_id=customer_id, kind=DocumentKind.reminder, number=number,
        issue_date=issue_date, due_date=issue_date + PAYMENT_TERM, currency=currency,
        status=DocumentStatus.open if total > 0 else DocumentStatus.issued,
        net_total=total, tax_total=Decimal("0.00"), gross_total=total, fee=fee, interest=interest,
        reminder_level=level, language=language,
    )


def _created(number: str, level: int, invoice_numbers: list[str], fee: Decimal, interest: Decimal) -> dict:
    return {"number": [None, number], "level": [None, level], "invoices": [None, ", ".join(invoice_numbers)],
            "fee": [None, str(fee)], "interest": [None, str(interest)]}


@dataclass
class Planned:
    """A reminder to write in a batch (models.services.dunning): one customer, one level, one
    currency; `invoices` as (id, number, outstanding). The caller checked that each invoice
    is the customer's, unpaid and has something outstanding (as create_reminder does)."""

    customer_id: int
    language: str | None
    currency: str
    level: int
    invoices: list[tuple[int, str, Decimal]]
    fee: Decimal
    interest: Decimal
    sent_at: datetime | None = None
    # Its audit event: "reminder.created", or what the caller did with it (one event each,
    # e.g. "reminder.sent" by an automatic run), with `changes` added to the creation's.
    action: str = "reminder.created"
    changes: dict | None = None


def create_reminders(actor: StaffUser | None, planned: list[Planned], issue_date: date) -> list[tuple[int, str]]:
    """Many reminders at once, each as create_reminder makes one, in a constant number of
    statements (numbers, documents, items, audit events); returns (id, number) of each, in order."""
    if not planned:
        return []
    for item in planned:
        if item.level not in REMINDER_LEVELS or not item.invoices:
            raise DomainError(_l("Choose the reminder level."), field="level")
        _amount(item.fee, "fee"), _amount(item.interest, "interest")
    numbers = allocate_numbers(DocumentKind.reminder, issue_date, len(planned))
    now = now_utc()
    rows = [{**_columns(item.customer_id, item.language, item.currency, level=item.level, issue_date=issue_date,
                        fee=item.fee, interest=item.interest, number=number),
             "sent_at": item.sent_at, "created_at": now, "updated_at": now, "released_to_portal": True,
             "amount_paid": Decimal("0.00")}
            for item, number in zip(planned, numbers)]
    # Numbers are unique per kind: they tell which id each row got (no RETURNING order needed).
    table = Document.__table__
    by_number = dict((number, id_) for id_, number in bulk.insert_rows(
        table, rows, returning=(table.c.id, table.c.number)))
    ids = [(by_number[number], number) for number in numbers[:len(planned)]]
    bulk.insert_rows(ReminderItem.__table__, [
        {"reminder_id": reminder_id, "invoice_id": invoice_id, "outstanding": outstanding}
        for (reminder_id, _number), item in zip(ids, planned) for invoice_id, _n, outstanding in item.invoices])
    audit.record_many(actor, [
        (item.action, "document", reminder_id, item.customer_id,
         {**_created(number, item.level, [n for _i, n, _o in item.invoices], item.fee, item.interest),
          **(item.changes or {})})
        for (reminder_id, number), item in zip(ids, planned)])
    return ids


def items_of(reminder: Document) -> list[ReminderItem]:
    return list(db.session.scalars(
        select(ReminderItem).options(joinedload(ReminderItem.invoice))  # each item's invoice number, in one statement
        .where(ReminderItem.reminder_id == reminder.id).order_by(ReminderItem.id)))
