"""The RQ job that syncs the business's mailbox, and its schedule in the worker.

Each worker enqueues `sync_mailbox` every MAIL_SYNC_SECONDS under one fixed job id (a job
still waiting is not enqueued again). The job reads each chosen folder from the last UID
it stored, MAIL_SYNC_BATCH messages per transaction (models.services.mail_sync.store_batch),
so a crash loses at most a batch, which the next run reads again without duplicates.

A failure (server unreachable, password refused, TLS) is written on the settings row for
the settings page, and the next run waits longer each time (models.services.mailbox.BACKOFF)
until one succeeds. Nothing here raises into RQ: the failure is the row's, not the job's.
"""

from __future__ import annotations

import imaplib
import logging
from dataclasses import dataclass, field

import redis
from flask import current_app
from flask_babel import gettext as _

from mailers import imap, queue
from models.db import db, now_utc
from models.services import mail_sync, mailbox as mailbox_service
from models.services.errors import DomainError
from models.services.settings import get_settings

log = logging.getLogger(__name__)
JOB_ID = "mail-sync"
JOB_FUNCTION = "mailers.mail_sync.sync_mailbox"


@dataclass
class Report:
    outcome: str = "synced"  # synced / disabled / waiting / failed
    error: str | None = None
    stored: int = 0
    duplicates: int = 0
    not_synced: int = 0
    unmatched: int = 0
    batches: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, result: mail_sync.BatchResult) -> None:
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.not_synced += result.not_synced
        self.unmatched += result.unmatched
        self.problems += result.skipped
        self.batches += 1


def sync_mailbox() -> dict:
    """The RQ job (JSON result for RQ's logs)."""
    try:
        return run().__dict__
    finally:
        db.session.remove()


def connection_of(mailbox) -> imap.Connection:
    return imap.Connection(host=mailbox.host, port=mailbox.port, security=mailbox.security,
                           username=mailbox.username, password=mailbox_service.decrypt(mailbox.password_encrypted))


def run(force: bool = False) -> Report:
    """One sync of every chosen folder; `force` ignores the backoff (the CLI, tests)."""
    now = now_utc()
    mailbox = mailbox_service.get_mailbox()
    if not mailbox.enabled or not mailbox.host or not mailbox.password_encrypted:
        db.session.rollback()
        return Report(outcome="disabled")
    if not force and mailbox.next_attempt_at and now < mailbox.next_attempt_at:
        db.session.rollback()
        return Report(outcome="waiting")
    folders = mailbox.folder_list
    own = mail_sync.own_addresses(mailbox.username, get_settings().sender_email)
    batch_size = max(1, int(current_app.config.get("MAIL_SYNC_BATCH", 100)))
    report = Report()
    try:
        conn = connection_of(mailbox)
        db.session.rollback()  # no transaction held open while talking to the server
        folder_errors = []
        with imap.Session(conn) as client:
            for folder in folders:
                try:
                    _sync_folder(client, folder, own, batch_size, report)
                except imap.MailboxError as error:
                    if error.kind != "folder":
                        raise
                    db.session.rollback()
                    folder_errors.append(error.message)
        if folder_errors:
            raise imap.MailboxError("folder", " ".join(folder_errors))
    except DomainError as error:  # the stored password cannot be decrypted
        return _failed(report, str(error.message))
    except imap.MailboxError as error:
        return _failed(report, error.message)
    except (imaplib.IMAP4.error, OSError) as error:  # the connection broke during the sync
        return _failed(report, _("The connection to the mail server broke off: %(reason)s", reason=error))
    except Exception as error:  # noqa: BLE001 - a bug: said on the settings page, retried with backoff
        log.exception("mail sync failed")
        return _failed(report, _("The sync stopped on an internal error (%(error)s); what was stored before it "
                                 "is kept.", error=type(error).__name__))
    mailbox = mailbox_service.get_mailbox()
    mailbox_service.record_success(mailbox, now_utc())
    db.session.commit()
    log.info("mail sync: %s stored, %s duplicates, %s not synced, %s unmatched",
             report.stored, report.duplicates, report.not_synced, report.unmatched)
    for problem in report.problems[:50]:
        log.info("mail sync: %s", problem)
    return report


def _sync_folder(client, folder: str, own: set[str], batch_size: int, report: Report) -> None:
    uidvalidity, _count = imap.select(client, folder)
    last_uid = mail_sync.start_folder(folder, uidvalidity)
    db.session.commit()
    uids = imap.uids_after(client, last_uid)
    batch: list[tuple[int, bytes]] = []
    for uid, raw in imap.fetch(client, uids):
        batch.append((uid, raw))
        if len(batch) >= batch_size:
            _store(folder, uidvalidity, batch, own, report)
            batch = []
    if batch:
        _store(folder, uidvalidity, batch, own, report)


def _store(folder: str, uidvalidity: int, batch: list[tuple[int, bytes]], own: set[str], report: Report) -> None:
    report.add(mail_sync.store_batch(folder, uidvalidity, batch, own=own))
    db.session.commit()
    db.session.expunge_all()  # flat memory over thousands of messages


def _failed(report: Report, message: str) -> Report:
    db.session.rollback()
    mailbox = mailbox_service.get_mailbox()
    wait = mailbox_service.record_failure(mailbox, message, now_utc())
    db.session.commit()
    log.warning("mail sync failed (next attempt in %s): %s", wait, message)
    report.outcome, report.error = "failed", message
    return report


def due() -> bool:
    """Is a sync switched on and not waiting out a backoff? (No job for a mailbox that is off.)"""
    try:
        mailbox = mailbox_service.get_mailbox()
        return bool(mailbox.enabled and (mailbox.next_attempt_at is None or mailbox.next_attempt_at <= now_utc()))
    finally:
        db.session.remove()


def enqueue() -> bool:
    """Put the sync job on the queue unless one is waiting or running; False if Redis is down."""
    try:
        mail_queue = queue.mail_queue()
        job = mail_queue.fetch_job(JOB_ID)
        if job is not None and job.get_status(refresh=False) in ("queued", "started", "scheduled", "deferred"):
            return True
        mail_queue.enqueue(JOB_FUNCTION, job_id=JOB_ID, result_ttl=600, failure_ttl=86400, job_timeout=3600)
        return True
    except redis.RedisError as error:
        log.warning("mail sync not enqueued: Redis unreachable (%s)", error)
        return False
