"""A synced e-mail on a customer, written directly (the access tests' worlds need one per
customer; tests/mail_sync/test_sync.py proves how sync writes them)."""

from __future__ import annotations

import secrets

from models.db import db, now_utc
from models.mailbox import SyncedAttachment, SyncedEmail, SyncedEmailLink


def synced_email(customer_id: int, sender: str = "someone@example.com", subject: str = "Synced message") -> tuple[int, int]:
    """(synced email id, attachment id), committed; call inside an app context."""
    email = SyncedEmail(
        dedupe_key=secrets.token_hex(32), folder="INBOX", uidvalidity=1, uid=1,
        message_id=f"<{secrets.token_hex(8)}@example.com>", from_address=sender, to_addresses=["billing@example.com"],
        cc_addresses=[], subject=subject, sent_at=now_utc(), text_body="About the invoice.", matched=True,
    )
    email.thread_key = email.message_id
    db.session.add(email)
    db.session.flush()
    db.session.add(SyncedEmailLink(synced_email_id=email.id, customer_id=customer_id))
    attachment = SyncedAttachment(synced_email_id=email.id, filename="remittance.pdf", content_type="application/pdf",
                                  size=4, content=b"%PDF")
    db.session.add(attachment)
    db.session.commit()
    return email.id, attachment.id
