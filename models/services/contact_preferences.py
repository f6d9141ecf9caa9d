"""A contact person's own say over what they receive (issue 17, "each contact person decides
which e-mails they receive").

Every copy of the customer's mail to a contact person is a message of its own, To that
contact alone (mailers.routing / mailers.jobs), because it carries two links that are that
contact's secret: their preferences page and a one-click unsubscribe (RFC 8058). Both are
signed with itsdangerous, a salt per purpose, under the dossier link keys (DOSSIER_LINK_KEYS,
or SECRET_KEY while none are configured; the newest signs, all verify). A token names the
contact and the address it was sent to: once staff or the customer change that address,
the old links open nothing. Changes are audited as "contact person <name>".
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from models.contacts import ContactPerson
from models.db import db
from models.outbox import MailCategory
from models.services import audit, events

PREFERENCES_SALT = "contact-preferences"
UNSUBSCRIBE_SALT = "contact-unsubscribe"
CATEGORIES = (MailCategory.invoice, MailCategory.account)
_FLAGS = {MailCategory.invoice: "invoice_emails", MailCategory.account: "account_emails"}


def _serializer(salt: str) -> URLSafeSerializer:
    keys = current_app.config.get("DOSSIER_LINK_KEYS") or [current_app.config["SECRET_KEY"]]
    return URLSafeSerializer(list(reversed(keys)), salt=salt)  # itsdangerous signs with the last


def _address(email: str) -> str:
    return (email or "").strip().lower()


def preferences_token(contact_id: int, email: str) -> str:
    return _serializer(PREFERENCES_SALT).dumps([contact_id, _address(email)])


def unsubscribe_token(contact_id: int, email: str, category: MailCategory) -> str:
    return _serializer(UNSUBSCRIBE_SALT).dumps([contact_id, _address(email), MailCategory(category).value])


def _contact(contact_id, email) -> ContactPerson | None:
    if not isinstance(contact_id, int) or not isinstance(email, str):
        return None
    contact = db.session.scalar(select(ContactPerson).where(ContactPerson.id == contact_id))
    if contact is None or _address(contact.email) != email:
        return None
    return contact


def from_preferences_token(token: str) -> ContactPerson | None:
    """The contact a preferences link belongs to; None when altered or no longer theirs."""
    try:
        contact_id, email = _serializer(PREFERENCES_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    return _contact(contact_id, email)


def from_unsubscribe_token(token: str) -> tuple[ContactPerson, MailCategory] | None:
    try:
        contact_id, email, category = _serializer(UNSUBSCRIBE_SALT).loads(token)
        category = MailCategory(category)
    except (BadSignature, ValueError, TypeError):
        return None
    contact = _contact(contact_id, email)
    if contact is None or category not in CATEGORIES:
        return None
    return contact, category


def receives(contact: ContactPerson) -> list[MailCategory]:
    """The categories a contact receives, in a fixed order (what staff and customers see)."""
    return [category for category in CATEGORIES if getattr(contact, _FLAGS[category])]


def choose(contact: ContactPerson, *, invoice: bool, account: bool) -> dict:
    """The contact's own choice; audited (by them) when something changed."""
    before = {"invoice_emails": contact.invoice_emails, "account_emails": contact.account_emails}
    contact.invoice_emails, contact.account_emails = bool(invoice), bool(account)
    changes = audit.diff(before, {"invoice_emails": contact.invoice_emails,
                                  "account_emails": contact.account_emails})
    if changes:
        event = audit.record(None, "contact.preferences_chosen", "contact_person", contact.id,
                             customer_id=contact.customer_id, changes=changes)
        event.actor_label = f"contact person {contact.name} <{contact.email}>"[:300]
        db.session.flush()
        events.contact_persons_changed(contact, "preferences", list(changes))
    db.session.flush()
    return changes


def unsubscribe(contact: ContactPerson, category: MailCategory) -> dict:
    """One-click unsubscribe from one category; the other stays as it was."""
    return choose(contact,
                  invoice=False if category == MailCategory.invoice else contact.invoice_emails,
                  account=False if category == MailCategory.account else contact.account_emails)
