"""API keys for the REST API (/api/v1), and the answers kept for its Idempotency-Key header.

A key is shown once, when the owner makes it; only its SHA-256 is stored. The secret is
32 random bytes, so a fast hash is enough (nothing to brute-force) and costs a request
nothing, where a password hash would cost milliseconds on every call.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc

SCOPES = ("read", "write")


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    # The start of the key as shown in the list (never enough to use it).
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "read" or "read write".
    scopes: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def can_write(self) -> bool:
        return "write" in self.scopes.split()

    @property
    def label(self) -> str:
        """How the audit trail names what the key did."""
        return f"API key {self.name} ({self.prefix}…)"


class IdempotentResponse(db.Model):
    """The answer to a POST sent with an Idempotency-Key, kept 24 hours: the same key and
    body get it again, without the change happening twice."""

    __tablename__ = "idempotent_responses"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    # SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
