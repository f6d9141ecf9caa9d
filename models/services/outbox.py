"""Writing outbox rows and moving them through queued → sending → sent / failed.

Rows are written in the caller's transaction; their ids are handed to the queue only
after that transaction commits (see mailers.queue), so a rolled-back event sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, or_, select, update

from models.customers import Customer
from models.db import db, now_utc
from models.documents import Document
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.services import audit, bulk
from models.staff import StaffUser

# A claim older than this is presumed dead (worker killed) and may be taken again.
CLAIM_LEASE = timedelta(minutes=5)
PENDING_KEY = "outbox_pending_ids"


def _pending(email: OutboundEmail) -> OutboundEmail:
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, set()).add(email.id)
    return email


def queue_customer_email(
    customer: Customer,
    category: MailCategory,
    template: str,
    *,
    document: Document | None = None,
    context: dict[str, Any] | None = None,
) -> OutboundEmail:
    """Queue mail about a customer; who receives it is decided when it is sent."""
    if category == MailCategory.system:
        raise ValueError("system mail goes to one person: use queue_system_email")
    return _pending(
        _add(
            OutboundEmail(
                customer_id=customer.id,
                document_id=document.id if document else None,
                category=category,
                template=template,
                context=context or {},
            )
        )
    )


def queue_customer_emails(category: MailCategory, template: str,
                          rows: list[tuple[int, int | None, dict[str, Any]]]) -> list[int]:
    """queue_customer_email for many at once, (customer_id, document_id, context) each, in
    one INSERT; the ids go to the queue after commit like every row's."""
    if not rows:
        return []
    now, table = now_utc(), OutboundEmail.__table__
    ids = [row.id for row in bulk.insert_rows(table, [
        {"customer_id": customer_id, "document_id": document_id, "category": category, "template": template,
         "context": context or {}, "status": MailStatus.queued, "attempts": 0, "recipients_to": [],
         "recipients_cc": [], "refused": {}, "created_at": now}
        for customer_id, document_id, context in rows], returning=(table.c.id,))]
    db.session.info.setdefault(PENDING_KEY, set()).update(ids)
    return ids


def queue_system_email(to_address: str | None, template: str, *, customer_id: int | None = None,
                       context: dict[str, Any] | None = None, send: bool = True) -> OutboundEmail:
    """Mail to one person. With `send=False` the row is written and handed to the queue in
    exactly the same way but settled already ("not sent"), so no worker can claim it: for a
    request that must cost the same whether or not its address has a login."""
    email = _add(
        OutboundEmail(
            customer_id=customer_id,
            category=MailCategory.system,
            template=template,
            to_address=to_address,
            context=context or {},
        )
    )
    if not send:
        email.status, email.last_error = MailStatus.failed, NOT_SENT_NO_LOGIN
    return _pending(email)


NOT_SENT_NO_LOGIN = "Not sent: no portal login has this address"
# The context key of a row that carries one contact person's copy of another row's message.
CONTACT_COPY_KEY = "contact_copy"


def queue_contact_copy(original: Row, contact_id: int, error: str, delay: timedelta) -> int:
    """A row of its own for one contact person's copy that could not be sent now (the
    original row stays sent: retrying it would send the customer's copy again). It waits
    `delay` like any retry; the caller hands its id to the queue after commit."""
    email = _add(
        OutboundEmail(
            customer_id=original.customer_id,
            document_id=original.document_id,
            category=original.category,
            template=original.template,
            context={**(original.context or {}), CONTACT_COPY_KEY: contact_id},
        )
    )
    email.attempts, email.last_error, email.next_attempt_at = 1, error, now_utc() + delay
    db.session.flush()
    return email.id


def _add(email: OutboundEmail) -> OutboundEmail:
    email.status = MailStatus.queued
    db.session.add(email)
    return email


def _claimable(now: datetime):
    """Queued and due, or claimed by a worker presumed dead (its claim older than the lease)."""
    return or_(
        and_(
            OutboundEmail.status == MailStatus.queued,
            or_(OutboundEmail.next_attempt_at.is_(None), OutboundEmail.next_attempt_at <= now),
        ),
        and_(OutboundEmail.status == MailStatus.sending, OutboundEmail.claimed_at < now - CLAIM_LEASE),
    )


def claim(email_id: int, now: datetime | None = None) -> bool:
    """Atomically take a row for sending. False: sent, failed, or another worker has it."""
    return bool(claim_batch([email_id], now))


# What a worker needs of a claimed row to route and build it (no ORM object per row).
CLAIMED_COLUMNS = (
    OutboundEmail.id, OutboundEmail.customer_id, OutboundEmail.document_id, OutboundEmail.category,
    OutboundEmail.template, OutboundEmail.to_address, OutboundEmail.context, OutboundEmail.attempts,
)


def claim_batch(email_ids: Sequence[int], now: datetime | None = None) -> list[Row]:
    """Atomically take those of the rows that are claimable, in one UPDATE … RETURNING, and
    commit. Rows sent, failed, not yet due or held by a live worker are left out."""
    if not email_ids:
        return []
    now = now or now_utc()
    rows = db.session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id.in_(sorted(set(email_ids))), _claimable(now))
        .values(status=MailStatus.sending, claimed_at=now, attempts=OutboundEmail.attempts + 1)
        .returning(*CLAIMED_COLUMNS)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted(rows, key=lambda row: row.id)


def extend_claims(email_ids: Sequence[int], now: datetime | None = None) -> None:
    """A live worker renews its claim on rows it still holds, so the lease never runs out
    under a slow batch (the caller commits)."""
    if email_ids:
        db.session.execute(
            update(OutboundEmail)
            .where(OutboundEmail.id.in_(sorted(email_ids)), OutboundEmail.status == MailStatus.sending)
            .values(claimed_at=now or now_utc())
            .execution_options(synchronize_session=False)
        )


_BY_ID = OutboundEmail.__table__.c.id == bindparam("_id")


def record(outcomes: Sequence[dict[str, Any]]) -> None:
    """Write many rows' outcomes (dicts of `id` and the columns to set, as made by
    sent_values / failed_values / retry_values) with one executemany per kind; the caller
    commits. Core, not the ORM: no object per row."""
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for outcome in outcomes:
        params = {("_id" if key == "id" else key): value for key, value in outcome.items()}
        by_keys.setdefault(tuple(sorted(params)), []).append(params)
    for group in by_keys.values():
        db.session.execute(update(OutboundEmail.__table__).where(_BY_ID), group)


def sent_values(email_id: int, *, subject: str, to: list[str], cc: list[str], refused: dict[str, str],
                message_id: str, now: datetime | None = None) -> dict[str, Any]:
    return {"id": email_id, "status": MailStatus.sent, "subject": subject[:300], "recipients_to": to,
            "recipients_cc": cc, "refused": refused, "message_id": message_id, "sent_at": now or now_utc(),
            "last_error": None}


def failed_values(email_id: int, error: str) -> dict[str, Any]:
    return {"id": email_id, "status": MailStatus.failed, "last_error": error}


def retry_values(email_id: int, error: str, delay: timedelta) -> dict[str, Any]:
    return {"id": email_id, "status": MailStatus.queued, "last_error": error,
            "next_attempt_at": now_utc() + delay}


def mark_sent(email: OutboundEmail, *, subject: str, to: list[str], cc: list[str],
              refused: dict[str, str], message_id: str) -> None:
    email.status = MailStatus.sent
    email.subject = subject
    email.recipients_to, email.recipients_cc = to, cc
    email.refused = refused
    email.message_id = message_id
    email.sent_at = now_utc()
    email.last_error = None


def mark_retry(email: OutboundEmail, error: str, delay: timedelta) -> None:
    email.status = MailStatus.queued
    email.last_error = error
    email.next_attempt_at = now_utc() + delay


def mark_failed(email: OutboundEmail, error: str, *, subject: str | None = None) -> None:
    email.status = MailStatus.failed
    email.last_error = error
    if subject:
        email.subject = subject


def resend(actor: StaffUser, email: OutboundEmail) -> OutboundEmail:
    """Put a failed message back in the queue (same row, same Message-ID)."""
    if email.status != MailStatus.failed:
        return email
    email.status = MailStatus.queued
    email.next_attempt_at = None
    audit.record(actor, "email.resent", "outbound_email", email.id, customer_id=email.customer_id)
    return _pending(email)


def due_ids(now: datetime | None = None, limit: int = 5000) -> list[int]:
    """Rows that should be on the queue: queued and due, or claimed by a dead worker."""
    now = now or now_utc()
    return list(
        db.session.scalars(
            select(OutboundEmail.id).where(_claimable(now)).order_by(OutboundEmail.id).limit(limit)
        )
    )


def counts_by_status() -> dict[MailStatus, int]:
    """How many rows the outbox holds in each status (every status, 0 included): one
    GROUP BY over the status index, for /metrics."""
    counts = dict.fromkeys(MailStatus, 0)
    rows = db.session.execute(select(OutboundEmail.status, func.count()).group_by(OutboundEmail.status))
    counts.update({status: count for status, count in rows})
    return counts


# The e-mail log's columns only, through a statement built once (the customer Overview
# shows the five latest on every view).
_LOG = (
    select(OutboundEmail.id, OutboundEmail.created_at, OutboundEmail.subject, OutboundEmail.template,
           OutboundEmail.status, OutboundEmail.last_error, OutboundEmail.refused,
           OutboundEmail.recipients_to, OutboundEmail.recipients_cc)
    .where(OutboundEmail.customer_id == bindparam("customer_id"))
    .order_by(OutboundEmail.created_at.desc(), OutboundEmail.id.desc())
)
_LATEST = _LOG.limit(5)


def of_customer(customer: Customer, email_id: int) -> OutboundEmail | None:
    """One of this customer's e-mails (an id of another customer's is not found)."""
    return db.session.scalar(
        select(OutboundEmail).where(OutboundEmail.id == email_id, OutboundEmail.customer_id == customer.id)
    )


def for_customer(customer: Customer, limit: int | None = None) -> Sequence[Row]:
    """The customer's e-mail log, newest first: rows of the columns the log shows."""
    stmt = _LATEST if limit == 5 else _LOG.limit(limit) if limit else _LOG
    return db.session.execute(stmt, {"customer_id": customer.id}).all()
