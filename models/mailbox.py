"""The business's own IMAP mailbox and the mail synced from it onto customers (issue 21).

`MailboxSettings` is one row: where to connect, the password encrypted with MAILBOX_KEY
(models.services.mailbox_secret), which folders to read, and how the last sync went.
`MailFolderState` remembers per folder the UIDVALIDITY and the last UID read, so a sync
fetches only what is new and notices a re-created folder (a new UIDVALIDITY).

`SyncedEmail` is one message, stored once: `dedupe_key` (a hash of its Message-ID, or of
its bytes when it has none) is unique, so two workers or a re-read folder never store it
twice. It belongs to the customers whose synced addresses it names (`SyncedEmailLink`,
which also holds whether staff read it there); a message with no link is unmatched.
Customers never see synced mail: only admin/ reads these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import UTCDateTime, db, now_utc

MAILBOX_SECURITY = ("ssl", "starttls")  # IMAPS (993) or STARTTLS on 143: never plaintext


class MailboxSettings(db.Model):
    __tablename__ = "mailbox_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    host: Mapped[str | None] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer, default=993)
    security: Mapped[str] = mapped_column(String(10), default="ssl")
    username: Mapped[str | None] = mapped_column(String(254))
    # Fernet token of the password (MAILBOX_KEY); never shown again, never logged.
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    folders: Mapped[str] = mapped_column(String(500), default="INBOX")  # one per line
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Consecutive failed syncs: the next one waits longer (backoff), reset by a success.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def folder_list(self) -> list[str]:
        return [f.strip() for f in (self.folders or "").splitlines() if f.strip()]


class MailFolderState(db.Model):
    __tablename__ = "mail_folder_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    folder: Mapped[str] = mapped_column(String(200), unique=True)
    uidvalidity: Mapped[int] = mapped_column(Integer)
    last_uid: Mapped[int] = mapped_column(Integer, default=0)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncedEmail(db.Model):
    __tablename__ = "synced_emails"
    __table_args__ = (
        Index("ix_synced_emails_message_id", "message_id"),
        Index("ix_synced_emails_thread", "thread_key"),
        Index("ix_synced_emails_unmatched", "matched", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(Integer)
    uid: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(300))
    in_reply_to: Mapped[str | None] = mapped_column(String(300))
    references: Mapped[str | None] = mapped_column(Text)
    # The conversation: the Message-ID of the first message of the thread that is known.
    thread_key: Mapped[str | None] = mapped_column(String(300))
    # Sent from the business's own address (e.g. its Sent folder) rather than to it.
    outgoing: Mapped[bool] = mapped_column(Boolean, default=False)
    from_address: Mapped[str | None] = mapped_column(String(254))
    from_name: Mapped[str | None] = mapped_column(String(200))
    to_addresses: Mapped[list] = mapped_column(JSON, default=list)
    cc_addresses: Mapped[list] = mapped_column(JSON, default=list)
    subject: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)  # sanitised (models.services.mail_html)
    # What was wrong with the message and how it was stored anyway (bad charset, defects).
    problem: Mapped[str | None] = mapped_column(String(500))
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    outbound_email_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_emails.id", ondelete="SET NULL"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    attachments: Mapped[list[SyncedAttachment]] = relationship(
        order_by="SyncedAttachment.id", cascade="all, delete-orphan", passive_deletes=True)


class SyncedEmailLink(db.Model):
    """A synced message on one customer's E-mails tab; `read_at` is staff having opened it."""

    __tablename__ = "synced_email_links"
    __table_args__ = (Index("ix_synced_email_links_customer", "customer_id", "read_at"),)

    synced_email_id: Mapped[int] = mapped_column(ForeignKey("synced_emails.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncedAttachment(db.Model):
    __tablename__ = "synced_attachments"
    __table_args__ = (Index("ix_synced_attachments_email", "synced_email_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    synced_email_id: Mapped[int] = mapped_column(ForeignKey("synced_emails.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    # Kept up to the size cap (MAIL_ATTACHMENT_MAX_BYTES); above it only what is said here.
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    skipped_reason: Mapped[str | None] = mapped_column(String(200))


class ContactEmail(db.Model):
    """A contact person's further address: recognised and synced, never sent CC copies
    (those go to ContactPerson.email). Stored lower-case: unique per customer."""

    __tablename__ = "contact_emails"
    __table_args__ = (UniqueConstraint("customer_id", "email"), Index("ix_contact_emails_contact", "contact_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact_persons.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    sync: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
