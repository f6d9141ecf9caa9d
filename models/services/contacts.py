"""Contact persons: the rules both the admin and the portal rely on.

At most 10 per customer, even under concurrent requests: the customer row is locked
(an UPDATE, which PostgreSQL holds as a row lock and SQLite as its write lock) before
counting, so two adds cannot both see nine. E-mail validated (no network) and unique
per customer ignoring case; the customer's own address is refused because it already
receives everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, select, update

from models.contacts import MAX_CONTACTS_PER_CUSTOMER, ContactPerson, ContactRole
from models.customers import Customer
from models.db import db
from models.portal_access import PortalUser
from models.services import access, addresses, audit, events
from models.services.errors import DomainError
from models.staff import StaffUser

ROLE_DESCRIPTIONS = {
    ContactRole.general: _l("General contact person"),
    ContactRole.billing: _l("Responsible for payments"),
    ContactRole.accountant: _l("Needs copies of invoices"),
    ContactRole.technical: _l("IT and service updates"),
    ContactRole.manager: _l("Oversees the account"),
    ContactRole.support: _l("Operational contact"),
}
ROLE_LABELS = {
    ContactRole.general: _l("General"),
    ContactRole.billing: _l("Billing"),
    ContactRole.accountant: _l("Accountant"),
    ContactRole.technical: _l("Technical"),
    ContactRole.manager: _l("Manager"),
    ContactRole.support: _l("Support"),
}


@dataclass(frozen=True)
class ContactInput:
    name: str
    email: str
    phone: str | None
    role: ContactRole
    invoice_emails: bool
    account_emails: bool


@dataclass(frozen=True)
class Actor:
    """Who made a change: a staff member, or a portal login acting for its customer."""

    staff: StaffUser | None = None
    portal_user: PortalUser | None = None
    # Whoever else acted, as the audit trail names them (e.g. "dossier link").
    via: str | None = None

    def record(self, action: str, contact: ContactPerson, changes: dict) -> None:
        if self.portal_user is not None:
            changes = {**changes, "by portal login": [None, self.portal_user.email]}
        event = audit.record(self.staff, action, "contact_person", contact.id,
                             customer_id=contact.customer_id, changes=changes)
        if self.via:
            event.actor_label = self.via


@dataclass(frozen=True)
class Owner:
    """The customer whose contact persons are managed: all that the rules need of it."""

    id: int
    email: str | None


@dataclass(frozen=True)
class Scope:
    """Whose contact persons a request may touch, as its blueprint proved it.

    The admin passes the customer id from the URL and the staff member: every lookup below
    carries that member's visibility rule, so an id proves nothing. The portal passes the
    customer its session already proved (`customer`), which no lookup needs to re-check.
    """

    customer_id: int
    staff: StaffUser | None = None
    customer: Customer | None = None


_OWNER = access.both_variants(
    select(Customer.id, Customer.email).where(Customer.id == bindparam("customer_id"))
)
# A contact row and its owner in one statement: the HTMX row routes run nothing else.
_CONTACT = access.both_variants(
    select(ContactPerson, Customer.email)
    .join(Customer, Customer.id == ContactPerson.customer_id)
    .where(ContactPerson.id == bindparam("contact_id"), Customer.id == bindparam("customer_id"))
)


def owner(scope: Scope) -> Owner | None:
    if scope.customer is not None:
        return Owner(scope.customer.id, scope.customer.email)
    row = db.session.execute(*access.scoped(_OWNER, scope.staff, {"customer_id": scope.customer_id})).first()
    return None if row is None else Owner(row.id, row.email)


def find(scope: Scope, contact_id: int) -> tuple[ContactPerson, Owner] | None:
    """A contact person only through a customer the request may see, with that customer."""
    params = {"customer_id": scope.customer_id, "contact_id": contact_id}
    row = db.session.execute(*access.scoped(_CONTACT, scope.staff, params)).first()
    if row is None:
        return None
    contact, email = row
    return contact, Owner(contact.customer_id, email)


def contacts_of(owner: Owner | Customer) -> list[ContactPerson]:
    return list(db.session.scalars(
        select(ContactPerson).where(ContactPerson.customer_id == owner.id)
        .order_by(ContactPerson.name, ContactPerson.id)
    ))


def count(owner: Owner | Customer) -> int:
    return db.session.scalar(
        select(func.count()).select_from(ContactPerson).where(ContactPerson.customer_id == owner.id)
    ) or 0


def _normalised(owner: Owner | Customer, data: ContactInput) -> ContactInput:
    """The input as it would be stored, or a DomainError for the field at fault (no query)."""
    name = (data.name or "").strip()
    if not name:
        raise DomainError(_l("Enter a name."), field="name")
    email = addresses.normalised((data.email or "").strip())
    if email is None:
        raise DomainError(_l("Enter a valid e-mail address."), field="email")
    if owner.email and email.lower() == owner.email.lower():
        raise DomainError(
            _l("This is the customer's own address; it already receives every e-mail."), field="email"
        )
    return ContactInput(name=name[:120], email=email, phone=(data.phone or "").strip()[:40] or None,
                        role=data.role, invoice_emails=data.invoice_emails, account_emails=data.account_emails)


TAKEN = _l("A contact person with this address exists already.")


def _refuse_taken(owner: Owner | Customer, email: str, contact: ContactPerson | None) -> None:
    """Unique per customer, ignoring case; the caller holds the customer lock."""
    clash = select(ContactPerson.id).where(
        ContactPerson.customer_id == owner.id, func.lower(ContactPerson.email) == email.lower()
    )
    if contact is not None:
        clash = clash.where(ContactPerson.id != contact.id)
    if db.session.scalar(clash):
        raise DomainError(TAKEN, field="email")
    # A contact person's further address (mail sync, issue 21) counts as taken too.
    from models.mailbox import ContactEmail

    if db.session.scalar(select(ContactEmail.id).where(ContactEmail.customer_id == owner.id,
                                                       ContactEmail.email == email.lower())):
        raise DomainError(TAKEN, field="email")


def _lock_customer(owner: Owner | Customer) -> None:
    db.session.execute(
        update(Customer).where(Customer.id == owner.id).values(id=Customer.id, updated_at=Customer.updated_at)
        .execution_options(synchronize_session=False)
    )


def refuse_full(current: int) -> None:
    """A customer with `current` contact persons takes no more than the cap."""
    if current >= MAX_CONTACTS_PER_CUSTOMER:
        raise DomainError(_l("This customer has %(n)s contact persons, the maximum.", n=MAX_CONTACTS_PER_CUSTOMER))


def add_contact(actor: Actor, owner: Owner | Customer, data: ContactInput) -> ContactPerson:
    _lock_customer(owner)
    refuse_full(count(owner))
    clean = _normalised(owner, data)
    _refuse_taken(owner, clean.email, None)
    contact = ContactPerson(customer_id=owner.id, **clean.__dict__)
    db.session.add(contact)
    db.session.flush()
    actor.record("contact.added", contact, {"name": [None, clean.name], "email": [None, clean.email]})
    events.contact_persons_changed(contact, "added", list(_snapshot(contact)))
    return contact


def _snapshot(contact: ContactPerson | ContactInput) -> dict:
    return {"name": contact.name, "email": contact.email, "phone": contact.phone, "role": contact.role.value,
            "invoice_emails": contact.invoice_emails, "account_emails": contact.account_emails}


def update_contact(actor: Actor, owner: Owner | Customer, contact: ContactPerson,
                   data: ContactInput) -> ContactPerson:
    clean = _normalised(owner, data)
    before = _snapshot(contact)
    changes = audit.diff(before, _snapshot(clean))
    if not changes:
        return contact  # saved as it was: nothing to write
    if clean.email.lower() != contact.email.lower():
        _lock_customer(owner)  # two racing updates cannot both take the same new address
        _refuse_taken(owner, clean.email, contact)
    # One UPDATE that counts its row: a remove committed meanwhile leaves none to update
    # (PostgreSQL re-checks the row after waiting for the remove), which is said, not a 500.
    saved = db.session.execute(
        update(ContactPerson).where(ContactPerson.id == contact.id).values(**clean.__dict__)
        .execution_options(synchronize_session="evaluate")  # `contact` shows the new values
    ).rowcount
    if saved != 1:
        raise DomainError(_l("This contact person was removed in the meantime."))
    actor.record("contact.updated", contact, changes)
    events.contact_persons_changed(contact, "updated", list(changes))
    return contact


def remove_contact(actor: Actor, contact: ContactPerson) -> None:
    """Removed at once: mail not yet sent is routed without them (routing happens at send).

    Removed once: a second remove at the same moment finds no row and is refused (its
    caller shows the contact as removed), so the audit trail records one removal."""
    from models.mailbox import ContactEmail  # their further addresses go with them (issue 21)

    db.session.execute(delete(ContactEmail).where(ContactEmail.contact_id == contact.id)
                       .execution_options(synchronize_session=False))
    removed = db.session.execute(
        delete(ContactPerson).where(ContactPerson.id == contact.id)
        .execution_options(synchronize_session="evaluate")
    ).rowcount
    if removed != 1:
        raise DomainError(_l("This contact person was removed in the meantime."))
    actor.record("contact.removed", contact, {"name": [contact.name, None], "email": [contact.email, None]})
    events.contact_persons_changed(contact, "removed", [])
