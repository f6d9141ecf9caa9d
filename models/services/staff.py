"""Staff accounts: authentication, creation, roles, passwords and ending sessions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from models.db import db, now_utc
from models.services import audit, passwords
from models.services.errors import DomainError
from models.staff import StaffRole, StaffUser


def find_by_email(email: str) -> StaffUser | None:
    return db.session.scalar(
        select(StaffUser).where(func.lower(StaffUser.email) == (email or "").strip().lower())
    )


def authenticate(email: str, password: str) -> StaffUser | None:
    """The user for a correct address and password, else None — the same cost either way."""
    user = find_by_email(email)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now_utc()
    return user


def create_staff(
    actor: StaffUser | None,
    *,
    email: str,
    name: str,
    role: StaffRole,
    password: str,
    view_all_customers: bool = False,
    language: str = "en",
) -> StaffUser:
    email = email.strip().lower()
    if find_by_email(email):
        raise DomainError(_l("A staff member with this e-mail address exists already."), field="email")
    if actor is not None and role == StaffRole.owner and actor.role != StaffRole.owner:
        raise DomainError(_l("Only an owner can add another owner."), field="role")
    passwords.check_password(password)
    user = StaffUser(
        email=email,
        name=name.strip(),
        role=role,
        view_all_customers=view_all_customers,
        language=language,
        password_hash=passwords.hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "staff.created", "staff_user", user.id, changes={"email": [None, email], "role": [None, role.value]})
    return user


def update_staff(
    actor: StaffUser,
    user: StaffUser,
    *,
    name: str,
    role: StaffRole,
    view_all_customers: bool,
    active: bool,
) -> None:
    if role == StaffRole.owner and user.role != StaffRole.owner and actor.role != StaffRole.owner:
        raise DomainError(_l("Only an owner can make someone an owner."), field="role")
    if user.role == StaffRole.owner and actor.role != StaffRole.owner:
        raise DomainError(_l("Only an owner can change an owner."), field="role")
    if user.id == actor.id and not active:
        raise DomainError(_l("You cannot deactivate yourself."), field="active")
    if user.id == actor.id and role != user.role:
        raise DomainError(_l("You cannot change your own role."), field="role")
    if (
        user.role == StaffRole.owner and user.active  # only an active owner counts towards the minimum
        and (role != StaffRole.owner or not active) and _owner_count() <= 1
    ):
        raise DomainError(_l("The business needs at least one active owner."), field="role")
    before = {"name": user.name, "role": user.role.value, "view_all_customers": user.view_all_customers, "active": user.active}
    user.name = name.strip()
    user.role = role
    user.view_all_customers = view_all_customers
    if user.active and not active:
        end_sessions(user)
    user.active = active
    after = {"name": user.name, "role": role.value, "view_all_customers": view_all_customers, "active": active}
    audit.record(actor, "staff.updated", "staff_user", user.id, changes=audit.diff(before, after))


def _owner_count() -> int:
    return db.session.scalar(
        select(func.count()).where(StaffUser.role == StaffRole.owner, StaffUser.active.is_(True))
    ) or 0


def change_password(user: StaffUser, current: str, new: str) -> None:
    """Change a password; every other session of the user ends (the epoch moves on)."""
    if not passwords.verify_password(user.password_hash, current):
        raise DomainError(_l("The current password is not correct."), field="current_password")
    passwords.check_password(new, field="new_password")
    user.password_hash = passwords.hash_password(new)
    end_sessions(user)
    audit.record(user, "staff.password_changed", "staff_user", user.id)


def set_language(user: StaffUser, language: str) -> None:
    user.language = language


def end_sessions(user: StaffUser) -> None:
    """Invalidate every session of this user on the server side."""
    user.session_epoch = (user.session_epoch or 0) + 1


def all_staff() -> list[StaffUser]:
    return list(db.session.scalars(select(StaffUser).order_by(StaffUser.name)))
