"""Portal logins: invitations, acceptance, the LOGIN switch, notification preferences,
authentication and password resets. The one place these rules live.

Secret links (invitations, resets) are minted when their e-mail is built by the worker
(mailers.messages), so neither the outbox nor any table holds a usable token: only
SHA-256 hashes are stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import contains_eager

from models.customers import Customer
from models.db import db, now_utc
from models.portal_access import AccessStatus, PasswordReset, PortalAccess, PortalUser
from models.services import addresses, audit, outbox, passwords
from models.services.errors import DomainError
from models.staff import StaffUser

INVITATION_VALID = timedelta(days=7)
RESET_VALID = timedelta(hours=1)
COMMON_PASSWORDS = passwords.COMMON_PASSWORDS  # the policy lives in models.services.passwords


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)  # 256 random bits
    return token, _hash(token)


def normalise_email(email: str, field: str = "email") -> str:
    address = addresses.normalised((email or "").strip())
    if address is None:
        raise DomainError(_l("Enter a valid e-mail address."), field=field)
    return address.lower()


def _user_for(email: str) -> PortalUser:
    user = db.session.scalar(select(PortalUser).where(PortalUser.email == email))
    if user is None:
        user = PortalUser(email=email)
        db.session.add(user)
        db.session.flush()
    return user


# --- staff side ------------------------------------------------------------------------

def accesses_for_customer(customer: Customer) -> list[PortalAccess]:
    return list(
        db.session.scalars(
            select(PortalAccess)
            .join(PortalAccess.user)
            .options(contains_eager(PortalAccess.user))
            .where(PortalAccess.customer_id == customer.id)
            .order_by(PortalUser.email)
        )
    )


@dataclass(frozen=True, slots=True)
class LoginActivity(AccessStatus):
    email: str
    invited_at: datetime | None
    accepted_at: datetime | None
    revoked_at: datetime | None
    last_login_at: datetime | None


_LOGIN_ACTIVITY = (
    select(PortalUser.email, PortalAccess.invited_at, PortalAccess.accepted_at, PortalAccess.revoked_at,
           PortalAccess.last_login_at)
    .join(PortalAccess.user)
    .where(PortalAccess.customer_id == bindparam("customer_id"))
    .order_by(PortalUser.email)
)


def login_activity(customer: Customer) -> list[LoginActivity]:
    """The customer overview's summary: who can log in, and when they last did."""
    return [LoginActivity(*row) for row in db.session.execute(_LOGIN_ACTIVITY, {"customer_id": customer.id})]


def get_access(customer: Customer, access_id: int) -> PortalAccess | None:
    return db.session.scalar(
        select(PortalAccess).where(PortalAccess.id == access_id, PortalAccess.customer_id == customer.id)
    )


def add_login(actor: StaffUser, customer: Customer, email: str, *, invite: bool = True) -> PortalAccess:
    """A login address for the customer; with `invite` the LOGIN switch is turned on."""
    user = _user_for(normalise_email(email))
    if db.session.scalar(
        select(PortalAccess.id).where(PortalAccess.portal_user_id == user.id, PortalAccess.customer_id == customer.id)
    ):
        raise DomainError(_l("This address has a login for this customer already."), field="email")
    access = PortalAccess(customer_id=customer.id, portal_user_id=user.id, user=user)
    db.session.add(access)
    db.session.flush()
    audit.record(actor, "portal_login.added", "portal_access", access.id, customer_id=customer.id,
                 changes={"email": [None, user.email]})
    if invite:
        set_login(actor, customer, access, True)
    return access


def _invite(access: PortalAccess) -> None:
    """Void any earlier invitation and queue a new one (its link is minted when sent)."""
    access.invite_token_hash = None
    access.invited_at = now_utc()
    access.invite_expires_at = access.invited_at + INVITATION_VALID
    outbox.queue_system_email(
        access.user.email, "portal_invitation", customer_id=access.customer_id,
        context={"access_id": access.id},
    )


def set_login(actor: StaffUser, customer: Customer, access: PortalAccess, enabled: bool) -> None:
    """LOGIN on: invite (if not accepted yet). LOGIN off: revoke at once; the customer stays."""
    if enabled:
        access.revoked_at = None
        if not access.accepted_at:
            _invite(access)
        action = "portal_login.enabled"
    else:
        access.revoked_at = now_utc()
        access.invite_token_hash = None
        action = "portal_login.revoked"
    audit.record(actor, action, "portal_access", access.id, customer_id=customer.id,
                 changes={"email": [access.user.email, access.user.email]})


def resend_invitation(actor: StaffUser, customer: Customer, access: PortalAccess) -> None:
    if access.accepted_at:
        raise DomainError(_l("This login is active already; nothing to resend."))
    if access.revoked_at:
        raise DomainError(_l("Turn the login on to send an invitation."))
    _invite(access)
    audit.record(actor, "portal_login.invitation_resent", "portal_access", access.id, customer_id=customer.id)


def change_login_email(actor: StaffUser, customer: Customer, access: PortalAccess, email: str) -> None:
    """Before acceptance only: the old invitation dies, a new one goes to the new address."""
    if access.accepted_at:
        raise DomainError(_l("The address of an accepted login cannot be changed."), field="email")
    new_email = normalise_email(email)
    old_email = access.user.email
    if new_email == old_email:
        return
    user = _user_for(new_email)
    if db.session.scalar(
        select(PortalAccess.id).where(PortalAccess.portal_user_id == user.id, PortalAccess.customer_id == customer.id)
    ):
        raise DomainError(_l("This address has a login for this customer already."), field="email")
    access.portal_user_id, access.user = user.id, user
    access.invite_token_hash = None
    audit.record(actor, "portal_login.address_changed", "portal_access", access.id, customer_id=customer.id,
                 changes={"email": [old_email, new_email]})
    if not access.revoked_at and access.invited_at:
        _invite(access)


def set_notifications(actor: StaffUser | None, access: PortalAccess, *, notify: bool,
                      invoice: bool, account: bool) -> None:
    before = {"notify": access.notify, "invoice": access.notify_invoice, "account": access.notify_account}
    access.notify, access.notify_invoice, access.notify_account = notify, invoice, account
    audit.record(actor, "portal_login.notifications", "portal_access", access.id, customer_id=access.customer_id,
                 changes=audit.diff(before, {"notify": notify, "invoice": invoice, "account": account}))


def set_customer_portal_access(actor: StaffUser, customer: Customer, enabled: bool) -> None:
    """Off: no login of this customer gets in (checked on every portal request)."""
    if customer.portal_access == enabled:
        return
    customer.portal_access = enabled
    audit.record(actor, "customer.portal_access", "customer", customer.id, customer_id=customer.id,
                 changes={"portal_access": [str(not enabled), str(enabled)]})


def count_portal_access_changes(enabled: bool) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Customer).where(Customer.portal_access.is_not(enabled))
    ) or 0


def apply_portal_access_to_all(actor: StaffUser, enabled: bool) -> int:
    result = db.session.execute(
        update(Customer).where(Customer.portal_access.is_not(enabled))
        .values(portal_access=enabled)
        .execution_options(synchronize_session=False)
    )
    audit.record(actor, "settings.portal_access_applied", "settings", None,
                 changes={"portal_access": [None, str(enabled)], "customers": [None, str(result.rowcount)]})
    return result.rowcount


# --- secret links, minted by the mail worker ------------------------------------------------

def mint_invitation(access: PortalAccess) -> str:
    token, token_hash = _new_token()
    access.invite_token_hash = token_hash
    if not access.invite_expires_at or access.invite_expires_at < now_utc():
        access.invite_expires_at = now_utc() + INVITATION_VALID
    return token


def mint_reset(user: PortalUser) -> str:
    token, token_hash = _new_token()
    db.session.add(PasswordReset(portal_user_id=user.id, token_hash=token_hash,
                                 expires_at=now_utc() + RESET_VALID))
    return token


# --- customer side -----------------------------------------------------------------------

def invitation_for(token: str) -> tuple[PortalAccess | None, str | None]:
    """The access an invitation token opens, or None and why not ("invalid", "expired")."""
    access = db.session.scalar(select(PortalAccess).where(PortalAccess.invite_token_hash == _hash(token or "")))
    if access is None or access.revoked_at or access.accepted_at:
        return None, "invalid"
    if access.invite_expires_at is None or access.invite_expires_at < now_utc():
        return None, "expired"
    return access, None


def accept_invitation(token: str, password: str | None, *, record_login: bool = False) -> PortalUser:
    """Single use, even when the link is posted twice at once. A new identity sets its
    password (and, with `record_login`, is logged in now); an existing one keeps its own."""
    access, problem = invitation_for(token)
    if access is None:
        raise DomainError(_l("This invitation link is no longer valid."))
    user = access.user
    if user.password_hash is None:
        passwords.check_password(password)
    # Claim the link in one conditional UPDATE: a concurrent accept of the same link waits
    # for this row and then finds the token gone (0 rows), so only one request goes on.
    claimed = db.session.execute(
        update(PortalAccess)
        .where(PortalAccess.id == access.id, PortalAccess.invite_token_hash == _hash(token),
               PortalAccess.accepted_at.is_(None), PortalAccess.revoked_at.is_(None))
        .values(accepted_at=now_utc(), invite_token_hash=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise DomainError(_l("This invitation link is no longer valid."))
    db.session.expire(access, ["accepted_at", "invite_token_hash"])
    if user.password_hash is None:
        user.password_hash = passwords.hash_password(password)
        user.password_changed_at = now_utc()
    _notify_owner(user, "invitation_accepted")
    audit.record(None, "portal_login.accepted", "portal_access", access.id, customer_id=access.customer_id,
                 changes={"email": [None, user.email]})
    if record_login:
        now = now_utc()
        user.last_login_at = access.last_login_at = now
    return user


def authenticate(email: str, password: str) -> PortalUser | None:
    """The same work whether or not the address exists (a dummy hash is verified)."""
    user = db.session.scalar(select(PortalUser).where(PortalUser.email == (email or "").strip().lower()))
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None:
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user


# The address's login with its latest invitation still open (not accepted, not revoked):
# one look-up whatever the address, so every answer costs the same.
_FORGOT_LOOKUP = (
    select(PortalUser, PortalAccess)
    .outerjoin(PortalAccess, and_(
        PortalAccess.portal_user_id == PortalUser.id, PortalAccess.invited_at.is_not(None),
        PortalAccess.accepted_at.is_(None), PortalAccess.revoked_at.is_(None)))
    .where(PortalUser.email == bindparam("email"))
    .order_by(PortalAccess.invited_at.desc(), PortalAccess.id.desc())
    .limit(1)
)


def request_password_reset(email: str, language: str = "en") -> None:
    """Queue a reset mail if the address has a login; say nothing either way.

    The same work either way (no timing tells whether an address has a login): one look-up,
    one outbox row written and queued. For an address without a login the row is settled
    as not sent, and keeps neither the address nor an id.
    """
    user, waiting = db.session.execute(_FORGOT_LOOKUP, {"email": (email or "").strip().lower()}).first() or (None, None)
    if user is not None and user.password_hash is None and waiting is not None:
        # Never activated: the way to a password is the invitation, sent again to this
        # address alone (customer e-mails' activation banner sends its owner here). Its
        # link is minted when it is sent, which retires the earlier one.
        outbox.queue_system_email(user.email, "portal_invitation", customer_id=waiting.customer_id,
                                  context={"access_id": waiting.id, "language": language})
        return
    known = user is not None and user.password_hash is not None
    outbox.queue_system_email(user.email if known else None, "portal_password_reset",
                              context={"portal_user_id": user.id if known else None, "language": language},
                              send=known)


def _usable_reset(token: str) -> tuple[PasswordReset, PortalUser] | None:
    """The reset link's row and its login, if the link still works: unused, within its hour,
    and no password change since it was made."""
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _hash(token or "")))
    user = db.session.get(PortalUser, reset.portal_user_id) if reset else None
    if (
        reset is None or user is None or reset.used_at is not None or reset.expires_at < now_utc()
        or (user.password_changed_at and user.password_changed_at > reset.created_at)
    ):
        return None
    return reset, user


def reset_link_works(token: str) -> bool:
    """Whether the reset link still works (its page says so before a password is typed)."""
    return _usable_reset(token) is not None


def reset_password(token: str, password: str) -> PortalUser:
    """Single use (even when the link is posted twice at once), one hour, void after any
    password change; does not log in."""
    usable = _usable_reset(token)
    if usable is None:
        raise DomainError(_l("This reset link is no longer valid. Ask for a new one."))
    reset, user = usable
    passwords.check_password(password)
    # Claim the link in one conditional UPDATE: a concurrent use of the same link waits for
    # this row and then finds it used (0 rows).
    claimed = db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now_utc())
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise DomainError(_l("This reset link is no longer valid. Ask for a new one."))
    db.session.expire(reset, ["used_at"])
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now_utc()
    user.session_epoch += 1
    _notify_owner(user, "password_reset")
    return user


def change_password(user: PortalUser, current: str, new: str, *, customer_id: int | None = None) -> None:
    """The login's owner changes its password: the current one first, then the policy. Every
    session of the login ends (the epoch moves on; the caller keeps its own browser's), the
    change is audited (on the account the login had open, `customer_id`) and the owner alone
    gets a notice."""
    if not passwords.verify_password(user.password_hash, current):
        raise DomainError(_l("The current password is not correct."), field="current_password")
    passwords.check_password(new, field="new_password")
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = now_utc()
    user.session_epoch += 1
    event = audit.record(None, "portal_login.password_changed", "portal_user", user.id, customer_id=customer_id)
    event.actor_label = f"portal login <{user.email}>"
    _notify_owner(user, "password_changed")


def _notify_owner(user: PortalUser, event: str) -> None:
    """Tell the login's owner, and only them, that its password was set or changed: if it
    was not them, they know to act (the mail says how)."""
    language = db.session.scalar(
        select(Customer.language).join(PortalAccess, PortalAccess.customer_id == Customer.id)
        .where(PortalAccess.portal_user_id == user.id).order_by(PortalAccess.id).limit(1)
    )
    outbox.queue_system_email(user.email, "portal_security_notice",
                              context={"event": event, "language": language or "en"})


def pending_invitation(customer: Customer, addresses: list[str]) -> PortalAccess | None:
    """An invited, not yet accepted login of this customer among these addresses."""
    wanted = [a.strip().lower() for a in addresses]
    if not wanted:
        return None
    return db.session.scalar(
        select(PortalAccess)
        .join(PortalAccess.user)
        .where(
            PortalAccess.customer_id == customer.id,
            PortalAccess.invited_at.is_not(None),
            PortalAccess.accepted_at.is_(None),
            PortalAccess.revoked_at.is_(None),
            PortalUser.email.in_(wanted),
        )
        .limit(1)
    )


def open_accounts(user: PortalUser) -> list[tuple[PortalAccess, Customer]]:
    """The customers this login may open now: accepted, not revoked, portal access on."""
    return list(
        db.session.execute(
            select(PortalAccess, Customer)
            .join(Customer, Customer.id == PortalAccess.customer_id)
            .where(
                PortalAccess.portal_user_id == user.id,
                PortalAccess.accepted_at.is_not(None),
                PortalAccess.revoked_at.is_(None),
                Customer.portal_access.is_(True),
                Customer.archived_at.is_(None),
            )
            .order_by(Customer.sort_key)
        ).all()
    )


def open_account(user: PortalUser, customer_id: int) -> tuple[PortalAccess, Customer] | None:
    for access, customer in open_accounts(user):
        if customer.id == customer_id:
            return access, customer
    return None


def record_login(user: PortalUser, access: PortalAccess | None) -> None:
    now = now_utc()
    user.last_login_at = now
    if access is not None:
        access.last_login_at = now


def end_sessions(user: PortalUser) -> None:
    user.session_epoch += 1
