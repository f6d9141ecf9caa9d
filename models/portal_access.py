"""Portal logins: one identity per e-mail address, with access to one or more customers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import UTCDateTime, db, now_utc


class PortalUser(db.Model):
    __tablename__ = "portal_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    password_hash: Mapped[str | None] = mapped_column(String(255))  # set on accepting
    # Bumped on logout and password change: older sessions are refused.
    session_epoch: Mapped[int] = mapped_column(Integer, default=1)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessStatus:
    """not_invited / invited / active / revoked: shared by the entity and list rows."""

    __slots__ = ()

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.accepted_at:
            return "active"
        return "invited" if self.invited_at else "not_invited"


class PortalAccess(AccessStatus, db.Model):
    """One login's access to one customer, with its invitation and notification settings."""

    __tablename__ = "portal_accesses"
    __table_args__ = (
        UniqueConstraint("portal_user_id", "customer_id"),
        Index("ix_portal_accesses_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Only a hash of the invitation token is kept; a new invitation replaces it.
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notify: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_invoice: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_account: Mapped[bool] = mapped_column(Boolean, default=True)
    # SYNC: mail exchanged with this login's address is put on this customer (issue 21).
    email_sync: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    user: Mapped[PortalUser] = relationship()



class PasswordReset(db.Model):
    __tablename__ = "portal_password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
