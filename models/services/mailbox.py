"""The mailbox connection settings: saved with the password encrypted, read back for sync.

The password is encrypted with Fernet (the `cryptography` package: authenticated AES, the
key from the environment's MAILBOX_KEY, never from the database), so a database dump alone
does not give the mailbox away. MAILBOX_KEY may be a Fernet key or any long passphrase
(hashed to one). A blank password field keeps the stored password; it is never shown again.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.db import db
from models.mailbox import MAILBOX_SECURITY, MailboxSettings
from models.services import audit
from models.services.errors import DomainError
from models.staff import StaffUser

# Waits after consecutive failed syncs (seconds): the server gets time to come back and a
# wrong password does not hammer it; a success resets them.
BACKOFF = (60, 120, 300, 900, 1800, 3600)


@dataclass(frozen=True)
class MailboxInput:
    enabled: bool
    host: str | None
    port: int | None
    security: str
    username: str | None
    password: str | None  # None or "": keep the stored one
    folders: str


def _fernet() -> Fernet:
    key = (current_app.config.get("MAILBOX_KEY") or "").strip()
    if not key:
        raise DomainError(_l("The server has no MAILBOX_KEY set, so a password cannot be stored. Ask the "
                             "administrator to set it in the environment."), field="password")
    try:
        return Fernet(key.encode())
    except ValueError:  # a passphrase rather than a Fernet key
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def encrypt(password: str) -> str:
    return _fernet().encrypt(password.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise DomainError(_l("The stored password cannot be read with this server's MAILBOX_KEY (was the key "
                             "changed?). Enter the password again."), field="password") from error


def get_mailbox(for_update: bool = False) -> MailboxSettings:
    """The one settings row; reading never writes, `for_update` adds it to the session."""
    row = db.session.scalar(select(MailboxSettings).order_by(MailboxSettings.id).limit(1))
    if row is None:
        row = MailboxSettings(enabled=False, port=993, security="ssl", folders="INBOX", failures=0)
        if for_update:
            db.session.add(row)
    return row


def normalised(data: MailboxInput, stored: MailboxSettings) -> MailboxInput:
    """The input as it would be saved, or a DomainError at the field at fault (no query)."""
    host = (data.host or "").strip().lower() or None
    username = (data.username or "").strip() or None
    folders = "\n".join(dict.fromkeys(f.strip() for f in (data.folders or "").replace(",", "\n").splitlines()
                                      if f.strip()))
    if data.security not in MAILBOX_SECURITY:
        raise DomainError(_l("Choose IMAPS or STARTTLS."), field="security")
    if data.port is None or not 1 <= data.port <= 65535:
        raise DomainError(_l("Enter a port between 1 and 65535."), field="port")
    if host and (len(host) > 253 or any(c.isspace() or c in "/@:" for c in host)):
        raise DomainError(_l("Enter a host name such as imap.example.com."), field="host")
    if any(len(f) > 200 or any(ord(c) < 32 for c in f) for f in folders.splitlines()):
        raise DomainError(_l("A folder name is too long or contains control characters."), field="folders")
    if data.enabled:
        if not host:
            raise DomainError(_l("Enter the server's host name."), field="host")
        if not username:
            raise DomainError(_l("Enter the user name."), field="username")
        if not data.password and not stored.password_encrypted:
            raise DomainError(_l("Enter the password."), field="password")
        if not folders:
            raise DomainError(_l("Enter at least one folder, such as INBOX."), field="folders")
    return MailboxInput(enabled=data.enabled, host=host, port=data.port, security=data.security,
                        username=username, password=data.password or None, folders=folders or "INBOX")


def update_mailbox(actor: StaffUser, data: MailboxInput) -> MailboxSettings:
    mailbox = get_mailbox(for_update=True)
    clean = normalised(data, mailbox)
    before = {k: getattr(mailbox, k) for k in ("enabled", "host", "port", "security", "username", "folders")}
    after = {k: getattr(clean, k) for k in before}
    changes = audit.diff(before, after)
    for key, value in after.items():
        setattr(mailbox, key, value)
    if clean.password:
        mailbox.password_encrypted = encrypt(clean.password)
        changes["password"] = ["…", "(changed)"]  # never the password itself
    if changes:
        mailbox.failures, mailbox.next_attempt_at = 0, None  # new settings: try at the next tick
        db.session.flush()
        audit.record(actor, "mailbox.updated", "mailbox_settings", mailbox.id, changes=changes)
    return mailbox


def record_success(mailbox: MailboxSettings, now: datetime) -> None:
    mailbox.last_sync_at = now
    mailbox.last_error = None
    mailbox.failures = 0
    mailbox.next_attempt_at = None


def record_failure(mailbox: MailboxSettings, message: str, now: datetime) -> timedelta:
    """Remember the error for the settings page and when to try again; returns the wait."""
    mailbox.failures = (mailbox.failures or 0) + 1
    wait = timedelta(seconds=BACKOFF[min(mailbox.failures, len(BACKOFF)) - 1])
    mailbox.last_error = message[:2000]
    mailbox.last_error_at = now
    mailbox.next_attempt_at = now + wait
    return wait
