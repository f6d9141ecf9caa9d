"""Staff users: the people of the business who work in /admin."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Enum, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc


class StaffRole(str, enum.Enum):
    owner = "owner"
    admin = "admin"
    employee = "employee"


class StaffUser(UserMixin, db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[StaffRole] = mapped_column(
        Enum(StaffRole, native_enum=False, length=20, validate_strings=True)
    )
    view_all_customers: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(5), default="en")
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped on logout, password change and deactivation: every session that carries an
    # older epoch is refused on its next request.
    session_epoch: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login: the epoch travels in the session
        return f"staff:{self.id}:{self.session_epoch}"

    @property
    def is_manager(self) -> bool:
        """Owners and admins manage staff, settings and see every customer."""
        return self.role in (StaffRole.owner, StaffRole.admin)

    @property
    def sees_all_customers(self) -> bool:
        return self.is_manager or self.view_all_customers
