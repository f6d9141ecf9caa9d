"""An e-mail address the debtor leaves on the dossier page when none is known.

It is not used for mail until staff adopt it (it could be mistyped or not theirs); until
then the invoice list's Attention filter "E-mail address provided" shows the customer.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from models.customers import Customer
from models.db import now_utc
from models.services import audit, events
from models.services.errors import DomainError
from models.services.portal_access import normalise_email
from models.staff import StaffUser


def is_wanted(customer: Customer) -> bool:
    """The dossier page (and a letter) asks for an address: none is known, and none the
    debtor left is waiting for staff (the page thanks for that one instead)."""
    return not customer.email and not customer.provided_email


def provide(customer: Customer, address: str) -> None:
    if customer.email:
        raise DomainError(_l("We already have an e-mail address for you."), field="email")
    customer.provided_email = normalise_email(address)
    customer.provided_email_at = now_utc()
    events.record("email.provided", customer=customer, data={"email": customer.provided_email})


def adopt(actor: StaffUser, customer: Customer) -> None:
    if not customer.provided_email:
        raise DomainError(_l("There is no provided e-mail address to adopt."))
    old, customer.email = customer.email, customer.provided_email
    customer.provided_email = customer.provided_email_at = None
    audit.record(actor, "customer.email_adopted", "customer", customer.id, customer_id=customer.id,
                 changes={"email": [old, customer.email]})


def dismiss(actor: StaffUser, customer: Customer) -> None:
    if not customer.provided_email:
        raise DomainError(_l("There is no provided e-mail address to dismiss."))
    dismissed = customer.provided_email
    customer.provided_email = customer.provided_email_at = None
    audit.record(actor, "customer.email_dismissed", "customer", customer.id, customer_id=customer.id,
                 changes={"provided_email": [dismissed, None]})
