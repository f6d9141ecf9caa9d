"""Writing outbox rows and moving them through queued → sending → sent / failed.

Rows are written in the caller's transaction; their ids are handed to the queue only
after that transaction commits (see mailers.queue), so a rolled-back event sends nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from models.customers import Customer
from models.db import db, now_utc
from models.documents import Document
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.services import audit
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


def queue_system_email(to_address: str, template: str, *, customer_id: int | None = None,
                       context: dict[str, Any] | None = None) -> OutboundEmail:
    return _pending(
        _add(
            OutboundEmail(
                customer_id=customer_id,
                category=MailCategory.system,
                template=template,
                to_address=to_address,
                context=context or {},
            )
        )
    )


def _add(email: OutboundEmail) -> OutboundEmail:
    email.status = MailStatus.queued
    db.session.add(email)
    return email


def claim(email_id: int, now: datetime | None = None) -> bool:
    """Atomically take a row for sending. False: sent, failed, or another worker has it."""
    now = now or now_utc()
    result = db.session.execute(
        update(OutboundEmail)
        .where(
            OutboundEmail.id == email_id,
            or_(
                and_(
                    OutboundEmail.status == MailStatus.queued,
                    or_(OutboundEmail.next_attempt_at.is_(None), OutboundEmail.next_attempt_at <= now),
                ),
                and_(OutboundEmail.status == MailStatus.sending, OutboundEmail.claimed_at < now - CLAIM_LEASE),
            ),
        )
        .values(status=MailStatus.sending, claimed_at=now, attempts=OutboundEmail.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


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
            select(OutboundEmail.id)
            .where(
                or_(
                    and_(
                        OutboundEmail.status == MailStatus.queued,
                        or_(OutboundEmail.next_attempt_at.is_(None), OutboundEmail.next_attempt_at <= now),
                    ),
                    and_(OutboundEmail.status == MailStatus.sending, OutboundEmail.claimed_at < now - CLAIM_LEASE),
                )
            )
            .order_by(OutboundEmail.id)
            .limit(limit)
        )
    )


def for_customer(customer: Customer, limit: int | None = None) -> list[OutboundEmail]:
    stmt = (
        select(OutboundEmail)
        .where(OutboundEmail.customer_id == customer.id)
        .order_by(OutboundEmail.created_at.desc(), OutboundEmail.id.desc())
    )
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))
