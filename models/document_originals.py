"""A document's original: the PDF the accounting package made, sent with it through the API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc


class DocumentOriginal(db.Model):
    """The accounting package's own PDF of a document: the portal shows it as the original."""

    __tablename__ = "document_originals"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


