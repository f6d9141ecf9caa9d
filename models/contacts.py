"""Contact persons: colleagues of a customer who get CC copies, never a login."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc

MAX_CONTACTS_PER_CUSTOMER = 10


class ContactRole(str, enum.Enum):
    """Descriptive labels only: a role never restricts what a contact receives."""

    general = "general"
    billing = "billing"
    accountant = "accountant"
    technical = "technical"
    manager = "manager"
    support = "support"


class ContactPerson(db.Model):
    __tablename__ = "contact_persons"
    __table_args__ = (Index("ix_contact_persons_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[ContactRole] = mapped_column(
        Enum(ContactRole, native_enum=False, length=20, validate_strings=True),
        default=ContactRole.general,
    )
    invoice_emails: Mapped[bool] = mapped_column(Boolean, default=True)
    account_emails: Mapped[bool] = mapped_column(Boolean, default=False)
    # SYNC for this (CC-receiving) address; further addresses carry their own (ContactEmail).
    email_sync: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
