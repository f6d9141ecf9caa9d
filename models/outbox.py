"""The outbox: one row per e-mail, written in the transaction of the event that causes it.

The row is the truth about a message. RQ only carries its id; a lost job, a dead worker
or a Redis outage is repaired by re-enqueueing rows that are still queued.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc


class MailCategory(str, enum.Enum):
    invoice = "invoice"  # invoices, payments, reminders, mandates, instalment plans
    account = "account"  # orders, fulfilment, subscription and status changes
    system = "system"  # invitations and password resets: only the person concerned


class MailStatus(str, enum.Enum):
    queued = "queued"
    sending = "sending"  # claimed by a worker; a stale claim is retried with the same Message-ID
    sent = "sent"
    failed = "failed"


class OutboundEmail(db.Model):
    __tablename__ = "outbound_emails"
    __table_args__ = (
        Index("ix_outbound_emails_customer_created", "customer_id", "created_at"),
        Index("ix_outbound_emails_status", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    category: Mapped[MailCategory] = mapped_column(
        Enum(MailCategory, native_enum=False, length=20, validate_strings=True)
    )
    template: Mapped[str] = mapped_column(String(60))  # e.g. "invoice_issued"
    # System mail names its one recipient; customer mail is routed when it is sent.
    to_address: Mapped[str | None] = mapped_column(String(254))
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    subject: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[MailStatus] = mapped_column(
        Enum(MailStatus, native_enum=False, length=20, validate_strings=True),
        default=MailStatus.queued,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(200))
    recipients_to: Mapped[list] = mapped_column(JSON, default=list)
    recipients_cc: Mapped[list] = mapped_column(JSON, default=list)
    refused: Mapped[dict] = mapped_column(JSON, default=dict)  # address -> server's answer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
