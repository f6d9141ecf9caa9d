"""Who receives a message, decided at the moment of sending (DESIGN.md "E-mail routing").

To: the customer's primary address, plus portal logins with notifications on for the
category. CC: contact persons subscribed to the category now —
a contact removed or unsubscribed after queueing gets nothing. Each address once.
System mail goes to the one person concerned, never CC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from models.contacts import ContactPerson
from models.customers import Customer
from models.db import db
from models.outbox import MailCategory, OutboundEmail
from models.services import portal_access

SUBSCRIPTION = {
    MailCategory.invoice: ContactPerson.invoice_emails,
    MailCategory.account: ContactPerson.account_emails,
}


@dataclass
class Recipients:
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return [*self.to, *self.cc]


def _unique(addresses, seen: set[str]) -> list[str]:
    result = []
    for address in addresses:
        key = (address or "").strip().lower()
        if key and key not in seen:
            seen.add(key)
            result.append(address.strip())
    return result


def recipients_for(email: OutboundEmail, customer: Customer | None) -> Recipients | None:
    """None when there is nobody to send to (no primary address known)."""
    if email.category == MailCategory.system:
        return Recipients(to=[email.to_address]) if email.to_address else None
    if customer is None or not customer.email:
        return None
    seen: set[str] = set()
    to = _unique([customer.email, *portal_access.notified_logins(customer, email.category.value)], seen)
    contacts = db.session.scalars(
        select(ContactPerson.email)
        .where(ContactPerson.customer_id == customer.id, SUBSCRIPTION[email.category].is_(True))
        .order_by(ContactPerson.id)
    )
    return Recipients(to=to, cc=_unique(contacts, seen))
