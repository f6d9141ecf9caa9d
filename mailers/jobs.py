"""The RQ job: deliver one outbox row. Safe to run twice, by two workers, after a crash."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from mailers import messages, routing, smtp
from mailers.queue import enqueue_retry
from models.customers import Customer
from models.db import db
from models.outbox import OutboundEmail
from models.services import outbox

log = logging.getLogger(__name__)


def retry_delays() -> list[int]:
    return current_app.config["MAIL_RETRY_DELAYS"]


def deliver(email_id: int) -> str:
    """Claim, route, build, send, record. Returns what happened (for logs and tests)."""
    try:
        return _deliver(email_id)
    finally:
        db.session.remove()  # jobs share the worker's app context: start each one clean


def _unsent(email_id: int) -> OutboundEmail:
    """Not sent: undo what building did (a link minted for it must not replace a working one)."""
    db.session.rollback()
    return db.session.get(OutboundEmail, email_id)


def _deliver(email_id: int) -> str:
    if not outbox.claim(email_id):
        return "skipped"
    email = db.session.get(OutboundEmail, email_id)
    customer = db.session.get(Customer, email.customer_id) if email.customer_id else None
    recipients = routing.recipients_for(email, customer)
    if recipients is None:
        outbox.mark_failed(email, "No e-mail address known")
        db.session.commit()
        return "no-address"
    try:
        built = messages.build(email, customer, recipients)
        sent = smtp.send(built.envelope_from, recipients.all, built.message.as_bytes())
    except smtp.TemporaryFailure as error:
        email = _unsent(email_id)
        delays = retry_delays()
        if email.attempts > len(delays):
            outbox.mark_failed(email, f"gave up after {email.attempts} attempts: {error}")
            db.session.commit()
            return "failed"
        delay = timedelta(seconds=delays[email.attempts - 1])
        outbox.mark_retry(email, str(error), delay)
        db.session.commit()
        enqueue_retry(email.id, delay)
        return "retry"
    except smtp.PermanentFailure as error:
        email = _unsent(email_id)
        outbox.mark_failed(email, str(error))
        db.session.commit()
        return "failed"
    except messages.NotNeeded as reason:
        db.session.rollback()
        email = db.session.get(OutboundEmail, email_id)
        outbox.mark_failed(email, f"Not sent: {reason}")
        db.session.commit()
        return "not-needed"
    except Exception as error:  # a bug (template, data): fail the row visibly, don't loop
        log.exception("outbox %s could not be built or sent", email_id)
        db.session.rollback()
        email = db.session.get(OutboundEmail, email_id)
        outbox.mark_failed(email, f"internal error: {type(error).__name__}: {error}")
        db.session.commit()
        return "failed"
    outbox.mark_sent(
        email, subject=built.subject, to=recipients.to, cc=recipients.cc,
        refused=sent.refused, message_id=built.message.msgId,
    )
    db.session.commit()
    return "sent"
