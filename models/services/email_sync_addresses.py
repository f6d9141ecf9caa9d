"""The SYNC switch per address and contact persons' further addresses (issue 21).

Per customer: the primary address, each contact person's address (the one that receives
CC copies) and each portal login have their own SYNC switch; a contact person may have
further addresses, recognised and synced, never sent anything. Every address is unique
per customer ignoring case, across all of these. Switching SYNC off keeps what was synced
already: it only stops new mail from being stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update

from models.contacts import ContactPerson
from models.customers import Customer
from models.db import db
from models.mailbox import ContactEmail
from models.portal_access import PortalAccess, PortalUser
from models.services import addresses, audit
from models.services.errors import DomainError
from models.staff import StaffUser

MAX_FURTHER_ADDRESSES = 5  # per contact person


@dataclass
class ContactAddresses:
    contact: ContactPerson
    further: list[ContactEmail] = field(default_factory=list)


@dataclass
class Overview:
    customer: Customer
    contacts: list[ContactAddresses]
    logins: list[tuple[PortalAccess, str]]  # (access, the login's address)


def overview(customer: Customer) -> Overview:
    """Three statements: contacts, their further addresses, portal logins."""
    contacts = [ContactAddresses(c) for c in db.session.scalars(
        select(ContactPerson).where(ContactPerson.customer_id == customer.id).order_by(ContactPerson.name, ContactPerson.id))]
    by_id = {c.contact.id: c for c in contacts}
    for extra in db.session.scalars(select(ContactEmail).where(ContactEmail.customer_id == customer.id)
                                    .order_by(ContactEmail.id)):
        if extra.contact_id in by_id:
            by_id[extra.contact_id].further.append(extra)
    logins = db.session.execute(
        select(PortalAccess, PortalUser.email).join(PortalUser, PortalUser.id == PortalAccess.portal_user_id)
        .where(PortalAccess.customer_id == customer.id, PortalAccess.revoked_at.is_(None)).order_by(PortalUser.email)
    ).all()
    return Overview(customer, contacts, [(a, e) for a, e in logins])


def taken(customer_id: int, email: str, *, except_further: int | None = None,
          except_contact: int | None = None) -> bool:
    """Is the address already the customer's, a contact person's or a further address?"""
    lower = email.lower()
    if db.session.scalar(select(Customer.id).where(Customer.id == customer_id, func.lower(Customer.email) == lower)):
        return True
    contact = select(ContactPerson.id).where(ContactPerson.customer_id == customer_id,
                                             func.lower(ContactPerson.email) == lower)
    if except_contact is not None:
        contact = contact.where(ContactPerson.id != except_contact)
    if db.session.scalar(contact):
        return True
    further = select(ContactEmail.id).where(ContactEmail.customer_id == customer_id, ContactEmail.email == lower)
    if except_further is not None:
        further = further.where(ContactEmail.id != except_further)
    return db.session.scalar(further) is not None


@dataclass
class Changes:
    """What the form asks: switches by id, further addresses to add (contact id -> text)
    and to remove (ids)."""

    customer_sync: bool
    contact_sync: dict[int, bool]
    further_sync: dict[int, bool]
    login_sync: dict[int, bool]
    add: dict[int, str]
    remove: set[int]


def save(actor: StaffUser, customer: Customer, changes: Changes) -> int:
    """Apply the form; returns how many things changed. A bad new address is refused at
    its field (`add-<contact id>`) and nothing is saved."""
    current = overview(customer)
    audit_changes: dict[str, list] = {}
    # Lock the customer row: two saves cannot both add the same address.
    db.session.execute(update(Customer).where(Customer.id == customer.id).values(id=Customer.id)
                       .execution_options(synchronize_session=False))
    if customer.email_sync != changes.customer_sync:
        audit_changes[f"sync {customer.email or 'primary address'}"] = [str(customer.email_sync), str(changes.customer_sync)]
        customer.email_sync = changes.customer_sync
    for entry in current.contacts:
        contact = entry.contact
        wanted = changes.contact_sync.get(contact.id, contact.email_sync)
        if wanted != contact.email_sync:
            audit_changes[f"sync {contact.email}"] = [str(contact.email_sync), str(wanted)]
            contact.email_sync = wanted
        for extra in entry.further:
            if extra.id in changes.remove:
                db.session.execute(delete(ContactEmail).where(ContactEmail.id == extra.id))
                audit_changes[f"address of {contact.name}"] = [extra.email, None]
                continue
            wanted = changes.further_sync.get(extra.id, extra.sync)
            if wanted != extra.sync:
                audit_changes[f"sync {extra.email}"] = [str(extra.sync), str(wanted)]
                extra.sync = wanted
        text = (changes.add.get(contact.id) or "").strip()
        if text:
            email = addresses.normalised(text)
            if email is None:
                raise DomainError(_l("Enter a valid e-mail address."), field=f"add-{contact.id}")
            email = email.lower()
            kept = [e for e in entry.further if e.id not in changes.remove]
            if len(kept) >= MAX_FURTHER_ADDRESSES:
                raise DomainError(_l("A contact person has at most %(n)s further addresses.", n=MAX_FURTHER_ADDRESSES),
                                  field=f"add-{contact.id}")
            db.session.flush()  # removals first: an address removed and added again is fine
            if taken(customer.id, email):
                raise DomainError(_l("This address belongs to this customer already."), field=f"add-{contact.id}")
            db.session.add(ContactEmail(customer_id=customer.id, contact_id=contact.id, email=email, sync=True))
            audit_changes[f"address of {contact.name} "] = [None, email]
    for access, email in current.logins:
        wanted = changes.login_sync.get(access.id, access.email_sync)
        if wanted != access.email_sync:
            audit_changes[f"sync login {email}"] = [str(access.email_sync), str(wanted)]
            access.email_sync = wanted
    if audit_changes:
        db.session.flush()
        audit.record(actor, "email_sync.updated", "customer", customer.id, customer_id=customer.id,
                     changes=audit_changes)
    return len(audit_changes)
