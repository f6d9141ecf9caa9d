"""A real Dovecot per test (tests/mail_sync/dovecot.py) and the mailbox settings pointing at it.

Without Dovecot installed the tests are skipped with the reason; in CI (.ci/run sets
DOSSIER_REQUIRE_BROWSER=1, which this suite reads as "every real service is required", or
DOSSIER_REQUIRE_DOVECOT=1) a missing Dovecot is a failure.
"""

from __future__ import annotations

import os
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone

import pytest

from models.db import db
from models.mailbox import MailboxSettings
from models.services import mailbox as mailbox_service
from tests.mail_sync.dovecot import DOVECOT, PASSWORD, USER, Dovecot

MAILBOX_KEY = "test-mailbox-key-only-for-tests-0123456789"
BUSINESS = USER  # the business's own address (the mailbox user)


def _required() -> bool:
    return os.environ.get("DOSSIER_REQUIRE_BROWSER") == "1" or os.environ.get("DOSSIER_REQUIRE_DOVECOT") == "1"


@pytest.fixture
def dovecot():
    if DOVECOT is None:
        if _required():
            pytest.fail("Dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)")
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd)")
    server = Dovecot()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def mailbox_key(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAILBOX_KEY", MAILBOX_KEY)


@pytest.fixture
def mailbox(app, dovecot, mailbox_key, monkeypatch):
    """Sync switched on, IMAPS to the test's Dovecot, its certificate trusted."""
    monkeypatch.setitem(app.config, "MAILBOX_CA_FILE", str(dovecot.cert))
    with app.app_context():
        db.session.add(MailboxSettings(
            enabled=True, host="127.0.0.1", port=dovecot.imaps_port, security="ssl", username=USER,
            password_encrypted=mailbox_service.encrypt(PASSWORD), folders="INBOX", failures=0))
        db.session.commit()
    return dovecot


def message(*, sender: str, to: str = BUSINESS, subject: str = "Hello", body: str = "Hello there.",
            message_id: str | None = None, in_reply_to: str | None = None, references: str | None = None,
            cc: str | None = None, html: str | None = None, date: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = cc
    msg["Date"] = format_datetime(date or datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc))
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg
