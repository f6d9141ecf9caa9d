"""Business settings: one business per installation, so one row."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.db import db

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "DKK", "SEK", "NOK", "PLN", "CZK")


class BusinessSettings(db.Model):
    __tablename__ = "business_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_name: Mapped[str] = mapped_column(String(200), default="My business")
    address: Mapped[str | None] = mapped_column(Text)
    sender_name: Mapped[str | None] = mapped_column(String(200))
    sender_email: Mapped[str | None] = mapped_column(String(254))
    default_currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # The logo lives in the database so any web process can serve it (no shared disk).
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_content_type: Mapped[str | None] = mapped_column(String(40))
    logo_version: Mapped[int] = mapped_column(Integer, default=0)
    # Portal access for customers created from now on (Billomat's default switch).
    portal_access_default: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
