"""Instalment plans: the debtor spreads open invoices over dated instalments.

Within the business's limits (settings); small plans are approved at once, the rest wait
for staff. While a plan is pending or active, reminders for its invoices hold.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Enum, ForeignKey, Index, Integer, String, Table, Column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Money, UTCDateTime, db, now_utc


class PlanStatus(str, enum.Enum):
    pending = "pending"  # waiting for staff
    active = "active"
    declined = "declined"
    cancelled = "cancelled"
    completed = "completed"


plan_documents = Table(
    "instalment_plan_documents",
    db.metadata,
    Column("plan_id", ForeignKey("instalment_plans.id", ondelete="CASCADE"), primary_key=True),
    Column("document_id", ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
)


class InstalmentPlan(db.Model):
    __tablename__ = "instalment_plans"
    __table_args__ = (Index("ix_instalment_plans_customer", "customer_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[PlanStatus] = mapped_column(
        Enum(PlanStatus, native_enum=False, length=20, validate_strings=True), default=PlanStatus.pending
    )
    total: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    count: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))

    documents = relationship("Document", secondary=plan_documents, order_by="Document.due_date")
    instalments: Mapped[list["Instalment"]] = relationship(
        back_populates="plan", order_by="Instalment.position", cascade="all, delete-orphan"
    )


class Instalment(db.Model):
    __tablename__ = "instalments"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("instalment_plans.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1..count
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    # Set when a payment of this instalment (Payment.instalment_id) is booked.
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    plan: Mapped[InstalmentPlan] = relationship(back_populates="instalments")
