"""Documents sent to customers. Invoices first; the model holds all six kinds."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Index, Integer, String
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


class Payable:
    """What is still to pay and whether it is late: shared by the entity and list rows."""

    __slots__ = ()

    @property
    def outstanding(self) -> Decimal:
        return self.gross_total - self.amount_paid

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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[DocumentKind] = mapped_column(
        Enum(DocumentKind, native_enum=False, length=30, validate_strings=True)
    )
    number: Mapped[str] = mapped_column(String(40), unique=True)
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
    released_to_portal: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # When the debtor last opened it through the dossier (staff see "viewed").
    last_viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by a debtor's question, cleared by a staff answer: the "unanswered" filter.
    awaiting_answer_since: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    customer = relationship("Customer")
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
