"""Questions about an invoice: one thread per document, the debtor asks, staff answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import UTCDateTime, db, now_utc
from models.staff import StaffUser


class DocumentMessage(db.Model):
    __tablename__ = "document_messages"
    __table_args__ = (Index("ix_document_messages_document", "document_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    # "customer" (dossier link or portal) or "staff"; a staff answer names its author.
    author_kind: Mapped[str] = mapped_column(String(10))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    staff: Mapped[StaffUser | None] = relationship()
