"""Payments: one checkout at a provider, covering one invoice or all open ones.

A `Payment` is what the provider knows (its reference is unique, so a replayed webhook
finds the row it already booked); its `PaymentItem`s say how much goes to which invoice.
Booking happens once, when the payment first becomes paid (`booked_at`).

A `CustomerCredit` row is money the customer has with the business: the part of a paid
payment that found nothing left to pay (a second checkout for an invoice already paid).
The balance is the sum of a customer's rows per currency; later rows (a refund, credit
used against an invoice) are negative.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Money, UTCDateTime, db, now_utc


# How money recorded by staff came in; "credit" is customer credit applied to an invoice.
RECORDED_METHODS = ("bank_transfer", "cash", "other")
MANUAL = "manual"  # the provider of a payment staff recorded
CREDIT = "credit"  # the provider of customer credit applied to an invoice


class PaymentStatus(str, enum.Enum):
    open = "open"  # created at the provider, the debtor has not finished
    paid = "paid"
    failed = "failed"
    canceled = "canceled"
    expired = "expired"


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_customer", "customer_id"),
        Index("ix_payments_created", "created_at"),
        # Money received by day (the dashboard's weeks): every booked payment has paid_at.
        Index("ix_payments_received", "paid_at", postgresql_include=["customer_id", "currency", "amount"],
              postgresql_where=text("booked_at IS NOT NULL AND reversed_at IS NULL AND provider <> 'credit'"),
              sqlite_where=text("booked_at IS NOT NULL AND reversed_at IS NULL AND provider <> 'credit'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(20))  # "test", "mollie", "stripe"
    provider_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    # Sent with the create call, so a retried create never makes a second checkout.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(
        Enum(PaymentStatus, native_enum=False, length=20, validate_strings=True), default=PaymentStatus.open
    )
    checkout_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Recorded by staff (provider "manual"): how the money came, who recorded it, and when
    # it was undone (an undone payment no longer counts anywhere).
    method: Mapped[str | None] = mapped_column(String(20))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A payment of one agreed instalment (its amount, spread over the plan's invoices).
    instalment_id: Mapped[int | None] = mapped_column(ForeignKey("instalments.id", ondelete="SET NULL"), index=True)

    items: Mapped[list["PaymentItem"]] = relationship(back_populates="payment", cascade="all, delete-orphan")


class PaymentItem(db.Model):
    __tablename__ = "payment_items"
    __table_args__ = (Index("ix_payment_items_document", "document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(Money())

    payment: Mapped[Payment] = relationship(back_populates="items")


class CustomerCredit(db.Model):
    __tablename__ = "customer_credits"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())  # positive: owed to the customer
    currency: Mapped[str] = mapped_column(String(3))
    # The payment it came from (an overpayment); one credit per payment at most.
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"), unique=True)
    reason: Mapped[str] = mapped_column(String(30))  # "overpayment", "credit_note", "applied"
    # The credit note it came from, or the invoice it was applied to.
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
