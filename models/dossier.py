"""Dossier links: the unguessable per-customer link printed on every e-mail and letter.

Only a random `public_id` is stored; the token is that id plus an HMAC of it under the
app's secret, so a copy of the database alone yields no working link.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc


class DossierLink(db.Model):
    __tablename__ = "dossier_links"
    __table_args__ = (Index("ix_dossier_links_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
