"""Who receives a message, decided at the moment of sending (DESIGN.md "E-mail routing").

To: the customer's primary address, plus portal logins with notifications on for the
category. Contact persons subscribed to the category now each get a copy of their own (To
that contact alone, never CC), because their copy carries their personal preferences and
unsubscribe links (models.services.contact_preferences), which must reach no one else —
a contact removed or unsubscribed after queueing gets nothing. Each address once.
`cc` names those contacts' addresses (the outbox row's recipients_cc, "copies").
System mail goes to the one person concerned, never CC.

A worker loads the candidates of a whole batch of customers in two queries
(`load_audiences`) and routes each row from them; `recipients_for` does the same for one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from models.contacts import ContactPerson
from models.customers import Customer
from models.db import db
from models.outbox import MailCategory, OutboundEmail
from models.portal_access import PortalAccess, PortalUser


@dataclass(frozen=True)
class ContactCopy:
    """One contact person's own copy of a customer message."""

    contact_id: int
    name: str
    address: str


@dataclass
class Recipients:
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)  # the contacts' addresses, each sent a copy
    contacts: list[ContactCopy] = field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return [*self.to, *self.cc]


@dataclass
class Audience:
    """A customer's candidates as (address, wants invoice mail, wants account mail)."""

    logins: list[tuple[str, bool, bool]] = field(default_factory=list)  # active, notify on; by address
    # contact persons, by id: (address, invoice, account, id, name)
    contacts: list[tuple] = field(default_factory=list)


def load_audiences(customer_ids: Iterable[int]) -> dict[int, Audience]:
    """Every customer's candidates, read now (two queries for the whole batch)."""
    ids = sorted(set(customer_ids))
    audiences = {cid: Audience() for cid in ids}
    if not ids:
        return audiences
    logins = db.session.execute(
        select(PortalAccess.customer_id, PortalUser.email, PortalAccess.notify_invoice, PortalAccess.notify_account)
        .join(PortalUser, PortalUser.id == PortalAccess.portal_user_id)
        .where(
            PortalAccess.customer_id.in_(ids),
            PortalAccess.accepted_at.is_not(None),
            PortalAccess.revoked_at.is_(None),
            PortalAccess.notify.is_(True),
        )
        .order_by(PortalAccess.customer_id, PortalUser.email)
    )
    for cid, address, invoice, account in logins:
        audiences[cid].logins.append((address, bool(invoice), bool(account)))
    contacts = db.session.execute(
        select(ContactPerson.customer_id, ContactPerson.email, ContactPerson.invoice_emails,
               ContactPerson.account_emails, ContactPerson.id, ContactPerson.name)
        .where(ContactPerson.customer_id.in_(ids))
        .order_by(ContactPerson.customer_id, ContactPerson.id)
    )
    for cid, address, invoice, account, contact_id, name in contacts:
        audiences[cid].contacts.append((address, bool(invoice), bool(account), contact_id, name))
    return audiences


def _unique(addresses: Iterable[str | None], seen: set[str]) -> list[str]:
    result = []
    for address in addresses:
        key = (address or "").strip().lower()
        if key and key not in seen:
            seen.add(key)
            result.append(address.strip())
    return result


def _wanted(candidates: list[tuple], category: MailCategory) -> list[str]:
    flag = 1 if category == MailCategory.invoice else 2
    return [c[0] for c in candidates if c[flag]]


def contact_copy_for(email: OutboundEmail, audience: Audience | None, contact_id: int) -> ContactCopy | None:
    """The one contact person a copy row (outbox.queue_contact_copy) is for, if they still
    receive this category now; None when they were removed or unsubscribed meanwhile."""
    flag = 1 if email.category == MailCategory.invoice else 2
    for candidate in audience.contacts if audience else ():
        if candidate[3] == contact_id and candidate[flag] and (candidate[0] or "").strip():
            return ContactCopy(candidate[3], candidate[4], candidate[0].strip())
    return None


def recipients_for(email: OutboundEmail, customer: Customer | None,
                   audience: Audience | None = None) -> Recipients | None:
    """None when there is nobody to send to (no primary address known)."""
    if email.category == MailCategory.system:
        return Recipients(to=[email.to_address]) if email.to_address else None
    if customer is None or not customer.email:
        return None
    if audience is None:
        audience = load_audiences([customer.id])[customer.id]
    seen: set[str] = set()
    logins = _wanted(audience.logins, email.category) if customer.portal_access else []
    to = _unique([customer.email, *logins], seen)
    flag = 1 if email.category == MailCategory.invoice else 2
    copies = []
    for candidate in audience.contacts:
        if candidate[flag] and _unique([candidate[0]], seen):
            copies.append(ContactCopy(candidate[3], candidate[4], candidate[0].strip()))
    return Recipients(to=to, cc=[c.address for c in copies], contacts=copies)
