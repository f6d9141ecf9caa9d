"""One-time secrets a customer proves an address with: a 6-digit code e-mailed to the
primary address before a sensitive change (step-up), or a link to a new primary address.

The secret itself is never stored: its mail is built by the worker, which mints the secret
then and keeps only its HMAC here (models.services.one_time_codes), as invitations do.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc


class CodePurpose(str, enum.Enum):
    # A code that confirms new bank details; the details wait in `payload`.
    bank = "bank"
    # A code that lets one dossier session change contact persons and ask for instalment plans.
    dossier = "dossier"
    # A link to a new primary address; the address waits in `payload`.
    email = "email"


class OneTimeCode(db.Model):
    __tablename__ = "one_time_codes"
    __table_args__ = (Index("ix_one_time_codes_customer", "customer_id", "purpose", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    purpose: Mapped[CodePurpose] = mapped_column(
        Enum(CodePurpose, native_enum=False, length=20, validate_strings=True)
    )
    # The one address the secret is sent to (the primary address, or the new one).
    sent_to: Mapped[str] = mapped_column(String(254))
    # HMAC-SHA256 of the secret, written when its e-mail is built; None until then.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Wrong and right tries together; at MAX_ATTEMPTS the code is locked.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A newer code of the same purpose replaced this one.
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
