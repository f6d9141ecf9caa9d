"""Documents sent to customers: six kinds, each with its own life (models.services.documents).

- invoice: draft (no number, editable, invisible to the customer) → open → partially paid /
  paid, or cancelled; overdue is derived from the due date, never stored;
- quote: pending → accepted / rejected; expired is derived from `valid_until`;
- credit note: refers to an invoice (`related_id`) and reduces what is outstanding on it;
- reminder: lists invoices (`ReminderItem`), has a level and an optional fee and interest,
  which are owed like an invoice's total;
- order confirmation, delivery note: issued, nothing to pay.

What is outstanding is the total less what was paid, credited by credit notes and written
off; all three are kept per document so a list reads one row.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Money, ScaledDecimal, UTCDateTime, db, now_utc


class DocumentKind(str, enum.Enum):
    invoice = "invoice"
    reminder = "reminder"
    quote = "quote"
    credit_note = "credit_note"
    delivery_note = "delivery_note"
    order_confirmation = "order_confirmation"


class DocumentStatus(str, enum.Enum):
    draft = "draft"
    # invoices (overdue is derived from the due date, never stored: see Document.is_overdue)
    open = "open"
    partially_paid = "partially_paid"
    paid = "paid"
    cancelled = "cancelled"
    # quotes
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    expired = "expired"
    # everything else
    issued = "issued"


UNPAID_STATUSES = (DocumentStatus.open, DocumentStatus.partially_paid)
# Kinds whose total the customer owes (a reminder owes its fee and interest).
RECEIVABLE_KINDS = (DocumentKind.invoice, DocumentKind.reminder)
REMINDER_LEVELS = (1, 2, 3)  # 1st reminder, 2nd reminder, final notice

# What each kind and reminder level is called: staff's pages, forms and flashes, the
# statement and the document's own heading all take the names from here.
KIND_NAMES = {
    DocumentKind.invoice: _l("Invoice"),
    DocumentKind.quote: _l("Quote"),
    DocumentKind.credit_note: _l("Credit note"),
    DocumentKind.reminder: _l("Reminder"),
    DocumentKind.delivery_note: _l("Delivery note"),
    DocumentKind.order_confirmation: _l("Order confirmation"),
}
REMINDER_LEVEL_NAMES = {1: _l("1st reminder"), 2: _l("2nd reminder"), 3: _l("Final notice")}
# Lists, tabs and settings name the kinds in the plural.
KIND_PLURALS = {
    DocumentKind.invoice: _l("Invoices"),
    DocumentKind.reminder: _l("Reminders"),
    DocumentKind.quote: _l("Quotes"),
    DocumentKind.credit_note: _l("Credit notes"),
    DocumentKind.order_confirmation: _l("Order confirmations"),
    DocumentKind.delivery_note: _l("Delivery notes"),
}


class Payable:
    """What is still to pay and whether it is late: shared by the entity and list rows."""

    __slots__ = ()

    @property
    def outstanding(self) -> Decimal:
        return self.gross_total - self.amount_paid - self.amount_credited - self.amount_written_off

    def is_overdue(self, today: date) -> bool:
        return (
            self.status in UNPAID_STATUSES
            and self.due_date is not None
            and self.due_date < today
        )


class Document(Payable, db.Model):
    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_customer_status", "customer_id", "status"),
        Index("ix_documents_status_due", "status", "due_date"),
        # The invoice list pages newest first.
        Index("ix_documents_kind_issue", "kind", "issue_date", "id"),
        # A customer's Documents tab pages newest first.
        Index("ix_documents_customer_issue", "customer_id", "issue_date", "id"),
        # Numbers are unique per kind; a draft has none yet (NULLs never collide).
        UniqueConstraint("kind", "number"),
        # The accounting package's own id, unique per kind (API and CSV import upsert by it).
        UniqueConstraint("kind", "external_id"),
        # What is owed, per customer: the dashboard's sums and attention counts read only
        # this (an index-only scan on PostgreSQL), never the whole table.
        Index("ix_documents_unpaid", "customer_id",
              postgresql_include=["id", "kind", "due_date", "currency", "gross_total", "amount_paid",
                                  "amount_credited", "amount_written_off"],
              postgresql_where=text("status IN ('open', 'partially_paid')"),
              sqlite_where=text("status IN ('open', 'partially_paid')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[DocumentKind] = mapped_column(
        Enum(DocumentKind, native_enum=False, length=30, validate_strings=True)
    )
    number: Mapped[str | None] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(100))
    # The random key of the staff form it was typed into: that form sent again (a double
    # click, a reload of the answer) finds this document instead of making a second one.
    # None when made otherwise (the API, an import, a quote converted).
    form_key: Mapped[str | None] = mapped_column(String(40), unique=True, index=True)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[DocumentStatus] = mapped_column(
        Enum(DocumentStatus, native_enum=False, length=20, validate_strings=True)
    )
    net_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    tax_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    gross_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    amount_paid: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    # By credit notes referring to this invoice (only up to what was outstanding).
    amount_credited: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"), server_default="0")
    # A remainder staff gave up on; `written_off_on` dates it on the account statement.
    amount_written_off: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"), server_default="0")
    written_off_on: Mapped[date | None] = mapped_column(Date)
    # Language the document is written in (the customer's when it was made).
    language: Mapped[str | None] = mapped_column(String(5))
    # A credit note's invoice; an order confirmation's or invoice's quote; a cancelled
    # invoice's credit note points back here.
    related_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"), index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    # Quotes.
    valid_until: Mapped[date | None] = mapped_column(Date)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_name: Mapped[str | None] = mapped_column(String(200))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    # Reminders: the level (REMINDER_LEVELS); fee and interest make up their total.
    reminder_level: Mapped[int | None] = mapped_column(Integer)
    fee: Mapped[Decimal | None] = mapped_column(Money())
    interest: Mapped[Decimal | None] = mapped_column(Money())
    # First e-mailed or printed: cancelling a sent invoice needs a credit note.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_to_portal: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # Bumped by every UPDATE of the row, ORM or Core (settlement.change): the REST API's
    # `updated_since` filter.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc, index=True)
    # When the debtor last opened it through the dossier (staff see "viewed").
    last_viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by a debtor's question, cleared by a staff answer: the "unanswered" filter.
    awaiting_answer_since: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The debtor disputes this invoice: automatic reminders leave it out until staff clear it.
    disputed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    customer = relationship("Customer")
    related: Mapped["Document | None"] = relationship(remote_side=[id], foreign_keys=[related_id])
    lines: Mapped[list["DocumentLine"]] = relationship(
        back_populates="document",
        order_by="DocumentLine.position",
        cascade="all, delete-orphan",
    )


class DocumentLine(db.Model):
    __tablename__ = "document_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(ScaledDecimal(3))
    unit_price: Mapped[Decimal] = mapped_column(Money())
    vat_rate: Mapped[Decimal] = mapped_column(ScaledDecimal(2))  # percent, e.g. 21.00
    net_amount: Mapped[Decimal] = mapped_column(Money())

    document: Mapped[Document] = relationship(back_populates="lines")


class ReminderItem(db.Model):
    """An invoice a reminder asks for, with what was outstanding on it that day."""

    __tablename__ = "reminder_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    outstanding: Mapped[Decimal] = mapped_column(Money())

    invoice: Mapped[Document] = relationship(foreign_keys=[invoice_id])
