"""What staff do with synced mail (issue 21): the conversations on a customer's E-mails
tab, unread counts and the "Replies to read" attention filter, reading, deleting (audited),
replying in the thread, and assigning unmatched messages. Only admin/ calls these:
customers never see synced mail.

Every function reaches a message through the customer the caller already proved access to
(`access.get_customer`), so a message id in a URL proves nothing by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.orm import defer

from models.contacts import MAX_CONTACTS_PER_CUSTOMER, ContactPerson
from models.customers import Customer
from models.db import db, now_utc
from models.mailbox import SyncedAttachment, SyncedEmail, SyncedEmailLink
from models.outbox import MailCategory, OutboundEmail
from models.services import audit, outbox
from models.services.errors import DomainError
from models.staff import StaffUser

REPLY_TEMPLATE = "mail_reply"
UNMATCHED_PAGE = 50
_MESSAGE_ID = re.compile(r"^<[^<>\s]{1,298}>$")

# Customers with a synced message from outside that no staff member has opened yet.
UNREAD = exists().where(
    SyncedEmailLink.customer_id == Customer.id, SyncedEmailLink.read_at.is_(None)
)


@dataclass
class Entry:
    """One message of a conversation: synced (`synced`) or sent by Dossier (`outbound`)."""

    at: datetime
    synced: SyncedEmail | None = None
    outbound: OutboundEmail | None = None
    unread: bool = False


@dataclass
class Conversation:
    key: str
    subject: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def latest(self) -> datetime:
        return max(e.at for e in self.entries)

    @property
    def unread(self) -> int:
        return sum(e.unread for e in self.entries)


def _outbound_thread(email: OutboundEmail) -> str | None:
    return (email.context or {}).get("thread_key") or email.message_id


def conversations(customer: Customer, limit: int = 200) -> list[Conversation]:
    """The customer's synced mail with the Dossier mail of the same threads, newest thread
    first: three statements (messages, the outbox mail they answer or that answers them,
    attachment names)."""
    rows = db.session.execute(
        select(SyncedEmail, SyncedEmailLink.read_at)
        .join(SyncedEmailLink, SyncedEmailLink.synced_email_id == SyncedEmail.id)
        .where(SyncedEmailLink.customer_id == customer.id)
        .options(defer(SyncedEmail.html_body), defer(SyncedEmail.references))
        .order_by(SyncedEmail.sent_at.desc(), SyncedEmail.id.desc()).limit(limit)
    ).all()
    if not rows:
        return []
    keys = {r.SyncedEmail.thread_key for r in rows if r.SyncedEmail.thread_key}
    sent = db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.customer_id == customer.id)
        .where(OutboundEmail.message_id.in_(sorted(keys))
               | OutboundEmail.id.in_([r.SyncedEmail.outbound_email_id for r in rows if r.SyncedEmail.outbound_email_id])
               | (OutboundEmail.template == REPLY_TEMPLATE))
    ).all()
    names = _attachment_names([r.SyncedEmail.id for r in rows])
    threads: dict[str, Conversation] = {}
    for email, read_at in rows:
        key = email.thread_key or f"synced:{email.id}"
        thread = threads.setdefault(key, Conversation(key, email.subject or ""))
        email.attachment_names = names.get(email.id, [])
        thread.entries.append(Entry(email.sent_at or email.synced_at, synced=email,
                                    unread=read_at is None and not email.outgoing))
    for email in sent:
        key = _outbound_thread(email)
        if key in threads:
            threads[key].entries.append(Entry(email.sent_at or email.created_at, outbound=email))
    for thread in threads.values():
        thread.entries.sort(key=lambda e: e.at)
        first = thread.entries[0]
        thread.subject = (first.synced.subject if first.synced else first.outbound.subject) or thread.subject
    return sorted(threads.values(), key=lambda t: t.latest, reverse=True)


def _attachment_names(email_ids: list[int]) -> dict[int, list[tuple[int, str, int, bool]]]:
    found: dict[int, list] = {}
    if email_ids:
        for row in db.session.execute(
                select(SyncedAttachment.synced_email_id, SyncedAttachment.id, SyncedAttachment.filename,
                       SyncedAttachment.size, SyncedAttachment.skipped_reason)
                .where(SyncedAttachment.synced_email_id.in_(email_ids)).order_by(SyncedAttachment.id)):
            found.setdefault(row.synced_email_id, []).append(row)
    return found


def unread_count(customer: Customer) -> int:
    return db.session.scalar(
        select(func.count()).select_from(SyncedEmailLink)
        .where(SyncedEmailLink.customer_id == customer.id, SyncedEmailLink.read_at.is_(None))
    ) or 0


def unread_counts(customer_ids: list[int]) -> dict[int, int]:
    """For a page of the customer list: one statement."""
    if not customer_ids:
        return {}
    return dict(db.session.execute(
        select(SyncedEmailLink.customer_id, func.count())
        .where(SyncedEmailLink.customer_id.in_(customer_ids), SyncedEmailLink.read_at.is_(None))
        .group_by(SyncedEmailLink.customer_id)
    ).all())


def of_customer(customer: Customer, synced_id: int) -> tuple[SyncedEmail, SyncedEmailLink] | None:
    row = db.session.execute(
        select(SyncedEmail, SyncedEmailLink)
        .join(SyncedEmailLink, SyncedEmailLink.synced_email_id == SyncedEmail.id)
        .where(SyncedEmail.id == synced_id, SyncedEmailLink.customer_id == customer.id)
    ).first()
    return None if row is None else (row[0], row[1])


def attachment_of(email: SyncedEmail, attachment_id: int) -> SyncedAttachment | None:
    return db.session.scalar(select(SyncedAttachment).where(
        SyncedAttachment.id == attachment_id, SyncedAttachment.synced_email_id == email.id))


def mark_read(link: SyncedEmailLink, now: datetime | None = None) -> bool:
    """Opening a message marks it read for that customer (as a mail client does)."""
    if link.read_at is not None:
        return False
    link.read_at = now or now_utc()
    return True


def mark_all_read(actor: StaffUser, customer: Customer) -> int:
    return db.session.execute(
        update(SyncedEmailLink).where(SyncedEmailLink.customer_id == customer.id, SyncedEmailLink.read_at.is_(None))
        .values(read_at=now_utc()).execution_options(synchronize_session=False)
    ).rowcount


def delete_message(actor: StaffUser, customer: Customer, email: SyncedEmail) -> None:
    """Gone from every customer it was on (its attachments too); the audit trail keeps who,
    when, and what it was (sender, subject, date), never its text."""
    # Links and attachments explicitly: SQLite does not enforce the foreign keys' cascade here.
    for model in (SyncedEmailLink, SyncedAttachment):
        db.session.execute(delete(model).where(model.synced_email_id == email.id)
                           .execution_options(synchronize_session=False))
    deleted = db.session.execute(
        delete(SyncedEmail).where(SyncedEmail.id == email.id).execution_options(synchronize_session=False)
    ).rowcount
    if deleted != 1:
        raise DomainError(_l("This e-mail was deleted in the meantime."))
    audit.record(actor, "synced_email.deleted", "synced_email", email.id, customer_id=customer.id, changes={
        "from": [email.from_address, None], "subject": [email.subject, None],
        "date": [email.sent_at.isoformat() if email.sent_at else None, None],
    })


def reply(actor: StaffUser, customer: Customer, email: SyncedEmail, subject: str, body: str) -> OutboundEmail:
    """An outbox mail To the message's sender, in its thread: In-Reply-To names the message,
    References carries the thread (mailers.messages sets both headers from the context)."""
    to = email.from_address if not email.outgoing else (email.to_addresses or [None])[0]
    if not to:
        raise DomainError(_l("This e-mail has no sender address to reply to."))
    subject = " ".join((subject or "").split())[:300]
    if not subject:
        raise DomainError(_l("Enter a subject."), field="subject")
    if not (body or "").strip():
        raise DomainError(_l("Enter a message."), field="message")
    references = [r for r in (email.references or "").split() if _MESSAGE_ID.match(r)]
    if email.message_id and _MESSAGE_ID.match(email.message_id):
        references.append(email.message_id)
    context = {"subject": subject, "message": body.strip()[:20000], "in_reply_to": email.message_id,
               "references": " ".join(references[-20:]) or None, "thread_key": email.thread_key,
               "synced_email_id": email.id, "language": customer.language}
    row = outbox.queue_system_email(to, REPLY_TEMPLATE, customer_id=customer.id, context=context)
    row.document_id = email.document_id
    link = db.session.get(SyncedEmailLink, (email.id, customer.id))
    if link is not None:
        mark_read(link)
    audit.record(actor, "synced_email.replied", "synced_email", email.id, customer_id=customer.id,
                 changes={"to": [None, to], "subject": [None, subject]})
    return row


def unmatched(page: int = 1) -> list[SyncedEmail]:
    return list(db.session.scalars(
        select(SyncedEmail).where(SyncedEmail.matched.is_(False))
        .options(defer(SyncedEmail.html_body), defer(SyncedEmail.text_body))
        .order_by(SyncedEmail.sent_at.desc(), SyncedEmail.id.desc())
        .limit(UNMATCHED_PAGE).offset((max(page, 1) - 1) * UNMATCHED_PAGE)
    ))


def get_synced(synced_id: int) -> SyncedEmail | None:
    """A stored message by id, matched or not (None: there is none, or it was deleted)."""
    return db.session.get(SyncedEmail, synced_id)


def customer_by_number(number: str) -> Customer | None:
    return db.session.scalar(select(Customer).where(func.lower(Customer.number) == (number or "").strip().lower()))


def assign(actor: StaffUser, email: SyncedEmail, customer: Customer, add_contact: bool = False) -> None:
    """Put an unmatched message on a customer; optionally its sender becomes a contact
    person, so their next mail is matched by itself."""
    if email.matched:
        raise DomainError(_l("This e-mail was assigned in the meantime."))
    db.session.execute(insert(SyncedEmailLink).values(synced_email_id=email.id, customer_id=customer.id))
    email.matched = True
    audit.record(actor, "synced_email.assigned", "synced_email", email.id, customer_id=customer.id,
                 changes={"from": [None, email.from_address], "subject": [None, email.subject]})
    if add_contact:
        if not email.from_address:
            raise DomainError(_l("This e-mail has no sender address."), field="add_contact")
        from models.services import contacts

        known = db.session.scalar(select(ContactPerson.id).where(
            ContactPerson.customer_id == customer.id, func.lower(ContactPerson.email) == email.from_address.lower()))
        if known is None and (customer.email or "").lower() != email.from_address.lower():
            if contacts.count(customer) >= MAX_CONTACTS_PER_CUSTOMER:
                raise DomainError(_l("This customer has %(n)s contact persons, the maximum.",
                                     n=MAX_CONTACTS_PER_CUSTOMER), field="add_contact")
            contacts.add_contact(contacts.Actor(staff=actor), customer, contacts.ContactInput(
                name=email.from_name or email.from_address.split("@")[0], email=email.from_address, phone=None,
                role=contacts.ContactRole.general, invoice_emails=False, account_emails=False))
