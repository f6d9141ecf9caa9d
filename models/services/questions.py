"""Questions about a document of any kind: the customer asks through their dossier link or
their portal login, staff answer.

One thread per document. A question sets `Document.awaiting_answer_since` (the document
list's Attention filter "Unanswered questions" and the customer Overview read it); a staff
answer clears it and e-mails the customer (the document's own category, so subscribed
contacts get a copy) with the answer and the document's link. The caller has already
proved that the document belongs to the customer (portal: `place.document_of`; admin:
`get_document` with visibility).
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import selectinload

from models.customers import Customer
from models.db import db, now_utc
from models.documents import Document, DocumentKind
from models.outbox import MailCategory
from models.questions import DocumentMessage
from models.services import audit, events, outbox, settlement
from models.services.errors import DomainError
from models.staff import StaffUser

QUESTION_MAX = 2000
ANSWER_MAX = 5000
# A debtor may ask this many times before an answer comes; more is a flood, not a question.
MAX_UNANSWERED = 10
# Who did it, in the history, when the debtor acted through their dossier link (no login).
DEBTOR = "dossier link"
# Money matters are answered in the invoice category, everything else in the account
# category (as each kind's own e-mail: models.services.notifications.DOCUMENT_MAIL).
_INVOICE_CATEGORY = (DocumentKind.invoice, DocumentKind.credit_note, DocumentKind.reminder)
# The thread shows the latest messages (a thread this long is a phone call, not a form).
THREAD_LIMIT = 200


def _clean(body: str | None, limit: int) -> str:
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise DomainError(_l("Write your message."), field="body")
    if "\x00" in text:
        raise DomainError(_l("This contains a character that cannot be saved."), field="body")
    if len(text) > limit:
        raise DomainError(_l("Keep it under %(n)s characters.", n=limit), field="body")
    return text


_WAITING = (
    select(func.count(DocumentMessage.id))
    .where(
        DocumentMessage.document_id == bindparam("document_id"),
        DocumentMessage.author_kind == "customer",
        DocumentMessage.created_at >= bindparam("since"),
    )
)


def ask(customer: Customer, document: Document, body: str | None) -> DocumentMessage:
    """The customer's question; the document then waits for an answer (if it did not already)."""
    if document.customer_id != customer.id:  # the callers check this; a wrong call is a bug, not a leak
        raise DomainError(_l("This document is not yours."))
    text = _clean(body, QUESTION_MAX)
    # Under the customer lock, as the document is now: a double click or a resent form
    # (the same question again before an answer) is the question already asked, not a second one.
    settlement.lock_customer(customer.id)
    db.session.refresh(document, ["awaiting_answer_since"])
    waiting_since = document.awaiting_answer_since
    if waiting_since is not None:
        latest = db.session.scalar(
            select(DocumentMessage)
            .where(DocumentMessage.document_id == document.id, DocumentMessage.created_at >= waiting_since)
            .order_by(DocumentMessage.id.desc()).limit(1)
        )
        if latest is not None and latest.author_kind == "customer" and latest.body == text:
            return latest
        if db.session.scalar(_WAITING, {"document_id": document.id, "since": waiting_since}) >= MAX_UNANSWERED:
            raise DomainError(_l("Please wait for our answer before asking more."), field="body")
    message = DocumentMessage(document_id=document.id, customer_id=customer.id, author_kind="customer", body=text)
    db.session.add(message)
    if waiting_since is None:
        document.awaiting_answer_since = now_utc()
    db.session.flush()
    event = audit.record(None, "question.asked", "document", document.id, customer_id=customer.id,
                         changes={"question": [None, text[:200]]})
    event.actor_label = DEBTOR
    events.record("question.asked", customer=customer, document=document,
                  data={"question": {"id": message.id, "text": text}})
    return message


def answer(actor: StaffUser, document: Document, body: str | None) -> DocumentMessage:
    """A staff answer: the thread no longer waits, and the customer is e-mailed the answer."""
    text = _clean(body, ANSWER_MAX)
    message = DocumentMessage(
        document_id=document.id, customer_id=document.customer_id, author_kind="staff", staff_id=actor.id, body=text
    )
    db.session.add(message)
    document.awaiting_answer_since = None
    db.session.flush()
    if document.kind == DocumentKind.invoice:
        category, template = MailCategory.invoice, "question_answered"
    else:
        category = MailCategory.invoice if document.kind in _INVOICE_CATEGORY else MailCategory.account
        template = "document_question_answered"
    outbox.queue_customer_email(document.customer, category, template, document=document, context={"answer": text})
    audit.record(actor, "question.answered", "document", document.id, customer_id=document.customer_id,
                 changes={"answer": [None, text[:200]]})
    return message


def thread(document: Document, *, with_staff: bool = False) -> list[DocumentMessage]:
    """The document's messages, oldest first (the latest THREAD_LIMIT of them)."""
    stmt = (
        select(DocumentMessage)
        .where(DocumentMessage.document_id == document.id)
        .order_by(DocumentMessage.created_at.desc(), DocumentMessage.id.desc())
        .limit(THREAD_LIMIT)
    )
    if with_staff:
        stmt = stmt.options(selectinload(DocumentMessage.staff))
    return list(reversed(db.session.scalars(stmt).all()))


_UNANSWERED = (
    select(Document.id, Document.number, Document.awaiting_answer_since, Document.kind)
    .where(Document.customer_id == bindparam("customer_id"), Document.awaiting_answer_since.is_not(None))
    .order_by(Document.awaiting_answer_since, Document.id)
    .limit(20)
)


def unanswered(customer: Customer) -> list[tuple[int, str, datetime, DocumentKind]]:
    """(document id, number, waiting since, kind) of the customer's documents with an open question,
    longest waiting first: one statement, for the customer Overview."""
    return [tuple(row) for row in db.session.execute(_UNANSWERED, {"customer_id": customer.id})]
