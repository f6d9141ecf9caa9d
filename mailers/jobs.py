"""The RQ job: deliver a batch of outbox rows. Safe to run twice, by two workers, after a crash.

One job carries up to queue.BATCH_SIZE ids. The worker claims them in one statement, loads
what routing and building need for all of them in a few queries, then takes the rows one
by one the same way: route, build, send over its kept SMTP connection (mailers.smtp),
record. Each row has its own outcome (sent, retry, failed): one bad row neither fails nor
delays the others, and once the server cannot be reached at all the rest of the batch is
put back for a retry without waiting for a timeout each.

Outcomes are committed in small groups (STATUS_GROUP rows or STATUS_SECONDS, whichever
comes first), not once per message. A worker killed in between loses nothing: its claimed
rows are taken again after the claim lease (flush). A message the server had accepted but
whose status was not yet committed is then sent a second time, with the same Message-ID;
at most MAX_UNRECORDED of them per killed worker.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from flask import current_app
from rq.timeouts import BaseTimeoutException
from sqlalchemy import Row, select

from mailers import messages, metrics, routing, smtp
from mailers.queue import enqueue_retry
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.dossier import DossierLink
from models.services import dossier, outbox
from models.services.settings import get_settings

log = logging.getLogger(__name__)
STATUS_GROUP = 8
STATUS_SECONDS = 0.02
# Messages a killed worker may have had accepted by the server without their status
# committed: a group not yet written, and the one in hand.
MAX_UNRECORDED = STATUS_GROUP + 1
HEARTBEAT_SECONDS = 60  # renew the claims of a batch this often (the lease is 5 minutes)


def retry_delays() -> list[int]:
    return current_app.config["MAIL_RETRY_DELAYS"]


def deliver(email_id: int) -> str:
    """Deliver one row. Returns what happened (for logs and tests)."""
    return deliver_batch([email_id]).get(email_id, "skipped")


def deliver_batch(email_ids: list[int]) -> dict[int, str]:
    """Deliver the claimable ones of these rows; returns id -> what happened to it."""
    try:
        rows = outbox.claim_batch(email_ids)
        return _Batch(rows).run() if rows else {}
    finally:
        db.session.remove()  # jobs share the worker's app context: start each one clean


class _Recorder:
    """Collects outcomes and commits them in small groups; schedules retries after commit."""

    def __init__(self, rows: list[Row]):
        self.open = {r.id for r in rows}
        self.pending: list[dict[str, Any]] = []
        self.oldest = 0.0
        self.retries: dict[int, list[int]] = defaultdict(list)
        self.renewed = time.monotonic()

    def add(self, values: dict[str, Any], retry_after: int | None = None) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append(values)
        if retry_after is not None:
            self.retries[retry_after].append(values["id"])
        if len(self.pending) >= STATUS_GROUP:
            self.flush()

    def due(self) -> None:
        """Commit what waits if it has waited long enough (called after each row)."""
        if self.pending and time.monotonic() - self.oldest >= STATUS_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            outbox.record(self.pending)
            self.open.difference_update(v["id"] for v in self.pending)
            self.pending = []
        if time.monotonic() - self.renewed >= HEARTBEAT_SECONDS:
            outbox.extend_claims(sorted(self.open))
            self.renewed = time.monotonic()
        db.session.commit()
        for delay, ids in self.retries.items():
            enqueue_retry(ids, timedelta(seconds=delay))
        self.retries.clear()


class _Batch:
    def __init__(self, rows: list[Row]):
        self.rows = rows
        self.results: dict[int, str] = {}
        self.recorder = _Recorder(rows)
        self.unreachable: str | None = None

    def _load(self) -> None:
        """Everything routing and building read, for all rows at once; the objects are
        detached so commits in between never expire (and reload) them."""
        customer_ids = {r.customer_id for r in self.rows if r.customer_id}
        document_ids = {r.document_id for r in self.rows if r.document_id}
        self.tokens = self._dossier_tokens(customer_ids)  # first: it may commit
        self.settings = get_settings()
        self.customers = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))}
        self.documents = {d.id: d for d in db.session.scalars(select(Document).where(Document.id.in_(document_ids)))}
        self.audiences = routing.load_audiences(customer_ids)
        self.pending = messages.pending_invitations(customer_ids)
        self.renderer = messages.Renderer()
        db.session.expunge_all()
        db.session.rollback()

    @staticmethod
    def _dossier_tokens(customer_ids: set[int]) -> dict[int, str]:
        """Each customer's dossier link token. A customer without a link gets one now, in
        its own commit: it is the customer's lasting link, not a per-message secret, so it
        may exist before the message goes out (staff opening the customer create it too)."""
        links: dict[int, DossierLink] = {}
        for link in db.session.scalars(
            select(DossierLink)
            .where(DossierLink.customer_id.in_(customer_ids), DossierLink.revoked_at.is_(None))
            .order_by(DossierLink.id.desc())  # the oldest active one wins, as in dossier.current_link
        ):
            links[link.customer_id] = link
        missing = customer_ids - links.keys()
        links.update({cid: dossier.current_link(cid) for cid in missing})
        tokens = {cid: dossier.token_for(link) for cid, link in links.items()}
        if missing:
            db.session.commit()
        return tokens

    def run(self) -> dict[int, str]:
        self._load()
        for row in self.rows:
            self.results[row.id] = outcome = self._one(row)
            metrics.delivered(outcome)
            self.recorder.due()
        self.recorder.flush()
        return self.results

    def _one(self, row: Row) -> str:
        """Route, build, send and record one row: the one way every row goes."""
        if self.unreachable:  # no connection: the rest of the batch waits for its retry too
            return self._temporary(row, self.unreachable)
        customer = self.customers.get(row.customer_id)
        copy_for = (row.context or {}).get(outbox.CONTACT_COPY_KEY)
        if copy_for is not None:
            return self._retried_copy(row, customer, copy_for)
        recipients = routing.recipients_for(row, customer, self.audiences.get(row.customer_id))
        if recipients is None:
            self.recorder.add(outbox.failed_values(row.id, "No e-mail address known"))
            return "no-address"
        # A minted link is written with this row's outcome alone: kept if sent, else undone.
        mints = messages.mints_a_link(row)
        if mints:
            self.recorder.flush()
        try:
            built = messages.build(
                row, customer, recipients, settings=self.settings,
                document=self.documents.get(row.document_id),
                dossier_link=messages.dossier_url(self.tokens[row.customer_id]) if customer else None,
                links=None if mints else messages.portal_links(row, recipients, self.pending.get(row.customer_id, set())),
                renderer=self.renderer,
            )
            sent = smtp.send(built.envelope_from, recipients.to, built.message.as_bytes())
        except BaseTimeoutException:
            raise
        except (smtp.TemporaryFailure, smtp.PermanentFailure, messages.NotNeeded) as error:
            if mints:
                db.session.rollback()
            return self._refused(row, error)
        except Exception as error:  # a bug (template, data): fail the row visibly, don't loop
            log.exception("outbox %s could not be built or sent", row.id)
            if mints:
                db.session.rollback()
            self.recorder.add(outbox.failed_values(row.id, f"internal error: {type(error).__name__}: {error}"))
            return "failed"
        refused = {**sent.refused, **self._copies(row, customer, recipients)}
        self.recorder.add(outbox.sent_values(
            row.id, subject=built.subject, to=recipients.to, cc=recipients.cc, refused=refused,
            message_id=built.message.msgId,
        ))
        if mints:
            self.recorder.flush()
        return "sent"

    def _copies(self, row: Row, customer: Customer | None, recipients: routing.Recipients) -> dict[str, str]:
        """Each contact person's own copy, once the customer's went out. A copy the server
        refuses is recorded as refused for that address on the row, which stays sent:
        retrying the row would send the customer's copy again. A copy the server cannot take
        now gets a row of its own, retried like any other (outbox.queue_contact_copy)."""
        refused: dict[str, str] = {}
        for contact in recipients.contacts:
            try:
                if self.unreachable:
                    raise smtp.Unreachable(self.unreachable)
                _, sent = self._send_copy(row, customer, recipients, contact)
                refused.update(sent.refused)
            except BaseTimeoutException:
                raise
            except (smtp.TemporaryFailure, smtp.PermanentFailure) as error:
                if isinstance(error, smtp.Unreachable):
                    self.unreachable = str(error)
                answer = str(error).removeprefix("all recipients refused: ").removeprefix(f"{contact.address}: ")
                if isinstance(error, smtp.TemporaryFailure):
                    delay = retry_delays()[0]
                    copy_id = outbox.queue_contact_copy(row, contact.contact_id, answer, timedelta(seconds=delay))
                    self.recorder.retries[delay].append(copy_id)
                    answer = f"{answer} (retried separately)"
                refused[contact.address] = answer
            except Exception as error:  # a bug: this copy fails visibly, the others still go
                log.exception("outbox %s: the copy to contact %s failed", row.id, contact.contact_id)
                refused[contact.address] = f"internal error: {type(error).__name__}: {error}"
        return refused

    def _send_copy(self, row: Row, customer: Customer | None, recipients: routing.Recipients,
                   contact: routing.ContactCopy) -> tuple[messages.Built, smtp.Sent]:
        built = messages.build(
            row, customer, recipients, settings=self.settings,
            document=self.documents.get(row.document_id),
            dossier_link=messages.dossier_url(self.tokens[row.customer_id]) if customer else None,
            links={}, renderer=self.renderer, contact=contact,
        )
        return built, smtp.send(built.envelope_from, [contact.address], built.message.as_bytes())

    def _retried_copy(self, row: Row, customer: Customer | None, contact_id: int) -> str:
        """A contact person's copy that could not be sent with its message, on its own row."""
        contact = routing.contact_copy_for(row, self.audiences.get(row.customer_id), contact_id)
        if contact is None:
            self.recorder.add(outbox.failed_values(row.id, "Not sent: the contact person no longer receives these e-mails"))
            return "not-needed"
        recipients = routing.Recipients(cc=[contact.address], contacts=[contact])
        try:
            built, sent = self._send_copy(row, customer, recipients, contact)
        except BaseTimeoutException:
            raise
        except (smtp.TemporaryFailure, smtp.PermanentFailure, messages.NotNeeded) as error:
            return self._refused(row, error)
        except Exception as error:  # a bug (template, data): fail the row visibly, don't loop
            log.exception("outbox %s: the copy to contact %s failed", row.id, contact_id)
            self.recorder.add(outbox.failed_values(row.id, f"internal error: {type(error).__name__}: {error}"))
            return "failed"
        self.recorder.add(outbox.sent_values(
            row.id, subject=built.subject, to=[], cc=[contact.address], refused=sent.refused,
            message_id=built.message.msgId,
        ))
        return "sent"

    def _refused(self, row: Row, error: Exception) -> str:
        if isinstance(error, messages.NotNeeded):
            self.recorder.add(outbox.failed_values(row.id, f"Not sent: {error}"))
            return "not-needed"
        if isinstance(error, smtp.Unreachable):
            self.unreachable = str(error)
        if isinstance(error, smtp.TemporaryFailure):
            return self._temporary(row, str(error))
        self.recorder.add(outbox.failed_values(row.id, str(error)))
        return "failed"

    def _temporary(self, row: Row, error: str) -> str:
        delays = retry_delays()
        if row.attempts > len(delays):
            self.recorder.add(outbox.failed_values(row.id, f"gave up after {row.attempts} attempts: {error}"))
            return "failed"
        delay = delays[row.attempts - 1]
        self.recorder.add(outbox.retry_values(row.id, error, timedelta(seconds=delay)), retry_after=delay)
        return "retry"
