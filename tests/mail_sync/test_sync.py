"""Syncing from a real Dovecot: messages put in with IMAP APPEND, read by mailers.mail_sync.run,
checked in the database (what the E-mails tab shows is tests/mail_sync/test_staff.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailers import mail_sync, messages
from models.contacts import ContactPerson
from models.db import db
from models.mailbox import MailboxSettings, ContactEmail, MailFolderState, SyncedAttachment, SyncedEmail, SyncedEmailLink
from models.outbox import OutboundEmail
from models.services import notifications, outbox
from tests import factories
from tests.conftest import count_queries
from tests.mail_sync.conftest import BUSINESS, message


def _emails(app) -> list[SyncedEmail]:
    with app.app_context():
        rows = list(db.session.scalars(select(SyncedEmail).order_by(SyncedEmail.id)))
        db.session.expunge_all()
        return rows


def _links(app) -> dict[int, list[int]]:
    with app.app_context():
        found: dict[int, list[int]] = {}
        for link in db.session.scalars(select(SyncedEmailLink)):
            found.setdefault(link.synced_email_id, []).append(link.customer_id)
        return found


def _sync(app):
    with app.app_context():
        report = mail_sync.run()
    assert report.outcome == "synced", report
    return report


@pytest.fixture
def customer(app):
    return factories.customer(name="Dana Debtor", email="dana@debtor.example")


def _sent_invoice_mail(app, customer, owner):
    """An invoice e-mail as the worker leaves it: sent, with its Message-ID."""
    invoice = factories.invoice(customer)
    with app.app_context():
        from models.documents import Document
        from models.staff import StaffUser

        row = notifications.send_document(db.session.get(StaffUser, owner.id), db.session.get(Document, invoice.id))
        db.session.flush()
        values = outbox.sent_values(row.id, subject="Invoice", to=[customer.email], cc=[], refused={},
                                    message_id=messages.message_id(row.id))
        outbox.record([values])
        db.session.commit()
        return row.id, invoice.id, values["message_id"]


def test_a_reply_to_an_invoice_mail_is_linked_to_it_and_its_document(app, mailbox, customer, owner):
    email_id, invoice_id, message_id = _sent_invoice_mail(app, customer, owner)
    mailbox.append(message(sender="Dana Debtor <Dana@Debtor.example>", subject="Re: Invoice",
                           body="I paid this already.", message_id="<reply-1@debtor.example>",
                           in_reply_to=message_id, references=message_id).as_bytes())
    report = _sync(app)
    assert report.stored == 1
    (stored,) = _emails(app)
    assert stored.outbound_email_id == email_id and stored.document_id == invoice_id
    assert stored.thread_key == message_id  # the conversation of the invoice mail
    assert stored.from_address == "dana@debtor.example" and stored.text_body.strip() == "I paid this already."
    assert _links(app) == {stored.id: [customer.id]}
    assert not stored.outgoing


def test_a_reply_to_a_contact_persons_own_copy_is_linked_too(app, mailbox, customer, owner):
    email_id, _invoice_id, _ = _sent_invoice_mail(app, customer, owner)
    with app.app_context():
        contact_copy_id = messages.message_id(email_id, contact_id=7)
        forged = contact_copy_id.replace(contact_copy_id.split(".")[3][:16], "0" * 16)
    mailbox.append(message(sender="dana@debtor.example", message_id="<r2@x>", in_reply_to=contact_copy_id).as_bytes())
    mailbox.append(message(sender="dana@debtor.example", message_id="<r3@x>", in_reply_to=forged).as_bytes())
    _sync(app)
    linked, not_linked = _emails(app)
    assert linked.outbound_email_id == email_id
    assert not_linked.outbound_email_id is None  # a made-up outbox id is not believed


def test_a_mail_from_a_contacts_second_address_is_put_on_the_customer(app, mailbox, customer):
    with app.app_context():
        contact = ContactPerson(customer_id=customer.id, name="Carl Contact", email="carl@debtor.example")
        db.session.add(contact)
        db.session.flush()
        db.session.add(ContactEmail(customer_id=customer.id, contact_id=contact.id, email="carl.private@mail.example"))
        db.session.commit()
    mailbox.append(message(sender="Carl <CARL.private@mail.example>", message_id="<c1@mail.example>").as_bytes())
    _sync(app)
    (stored,) = _emails(app)
    assert _links(app) == {stored.id: [customer.id]}


def test_an_unknown_sender_is_stored_unmatched(app, mailbox, customer):
    mailbox.append(message(sender="stranger@elsewhere.example", message_id="<s1@elsewhere.example>").as_bytes())
    report = _sync(app)
    assert report.unmatched == 1
    (stored,) = _emails(app)
    assert not stored.matched and _links(app) == {}


def test_sync_off_means_not_stored(app, mailbox, customer):
    with app.app_context():
        from models.customers import Customer

        db.session.get(Customer, customer.id).email_sync = False
        db.session.commit()
    mailbox.append(message(sender="dana@debtor.example", message_id="<off@x>").as_bytes())
    report = _sync(app)
    assert report.not_synced == 1 and _emails(app) == []


def test_a_duplicate_is_stored_once_and_nothing_is_read_twice(app, mailbox, customer):
    with app.app_context():
        db.session.scalar(select(MailboxSettings)).folders = "INBOX\nArchive"
        db.session.commit()
    raw = message(sender="dana@debtor.example", message_id="<dup@debtor.example>").as_bytes()
    mailbox.append(raw, "Archive")
    mailbox.append(raw, "Archive")  # the same message twice in the folder
    mailbox.append(raw)  # and once more in another folder
    report = _sync(app)
    assert report.stored == 1 and report.duplicates == 2
    assert _sync(app).stored == 0  # nothing new: the last UID is remembered
    with app.app_context():
        state = db.session.scalar(select(MailFolderState).where(MailFolderState.folder == "Archive"))
        assert state.last_uid == 2
        old_validity = state.uidvalidity
    # The folder is deleted and created again (new UIDVALIDITY) with the same message in it.
    mailbox.recreate("Archive")
    mailbox.append(raw, "Archive")
    mailbox.append(message(sender="dana@debtor.example", message_id="<new@debtor.example>").as_bytes(), "Archive")
    report = _sync(app)
    assert (report.stored, report.duplicates) == (1, 1)
    with app.app_context():
        state = db.session.scalar(select(MailFolderState).where(MailFolderState.folder == "Archive"))
        assert state.uidvalidity != old_validity and state.last_uid == 2
    assert [e.message_id for e in _emails(app)] == ["<dup@debtor.example>", "<new@debtor.example>"]


def test_malformed_mime_and_an_unknown_charset_are_stored_safely(app, mailbox, customer):
    broken = (b"From: dana@debtor.example\r\nTo: " + BUSINESS.encode() + b"\r\nSubject: =?x-unknown?Q?caf=E9?=\r\n"
              b"Message-ID: <broken@debtor.example>\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/mixed; boundary=\"never-closed\"\r\n\r\n"
              b"--never-closed\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nQapla\xe9 \xff\xfe\r\n")
    garbage = b"\x00\xff\xfe not a message at all \r\n\r\n\x00"
    mailbox.append(broken)
    mailbox.append(garbage)
    report = _sync(app)
    assert report.stored == 2
    stored, unreadable = _emails(app)
    assert "Qapla" in stored.text_body
    assert "unknown charset 'x-klingon'" in stored.problem
    assert _links(app)[stored.id] == [customer.id]
    assert "no sender address" in unreadable.problem and not unreadable.matched


def test_html_is_sanitised_and_remote_images_wait(app, mailbox, customer):
    html = ('<p onclick="steal()">Paid, see <a href="javascript:alert(1)">here</a></p><script>alert(1)</script>'
            '<img src="https://tracker.example/pixel.gif?u=dana" alt="logo">')
    mailbox.append(message(sender="dana@debtor.example", message_id="<h1@x>", html=html).as_bytes())
    _sync(app)
    (stored,) = _emails(app)
    assert "<script" not in stored.html_body and "onclick" not in stored.html_body
    assert "javascript:" not in stored.html_body
    assert ' src="https://tracker.example' not in stored.html_body
    assert 'data-remote-src="https://tracker.example/pixel.gif?u=dana"' in stored.html_body


def test_a_big_attachment_keeps_its_name_and_size_only(app, mailbox, customer, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_ATTACHMENT_MAX_BYTES", 1000)
    msg = message(sender="dana@debtor.example", message_id="<att@x>")
    msg.add_attachment(b"%PDF small", maintype="application", subtype="pdf", filename="remittance.pdf")
    msg.add_attachment(b"x" * 5000, maintype="application", subtype="octet-stream", filename="huge.bin")
    mailbox.append(msg.as_bytes())
    _sync(app)
    with app.app_context():
        small, huge = db.session.scalars(select(SyncedAttachment).order_by(SyncedAttachment.id)).all()
        assert (small.filename, small.size, small.content, small.skipped_reason) == (
            "remittance.pdf", 10, b"%PDF small", None)
        assert (huge.filename, huge.size, huge.content) == ("huge.bin", 5000, None)
        assert "not stored" in huge.skipped_reason


def test_an_unreachable_server_is_recorded_and_retried_later(app, mailbox, customer):
    mailbox.stop()
    with app.app_context():
        report = mail_sync.run()
    assert report.outcome == "failed" and "cannot be reached" in report.error


def test_queries_per_batch_are_bounded(app, mailbox, customer, monkeypatch):
    """Twenty messages in batches of five cost the same statements per batch as five in one."""
    monkeypatch.setitem(app.config, "MAIL_SYNC_BATCH", 5)

    def statements_for(count: int, offset: int) -> int:
        for n in range(count):
            mailbox.append(message(sender="dana@debtor.example", message_id=f"<q{offset + n}@x>",
                                   cc="stranger@elsewhere.example").as_bytes())
        with count_queries(app) as statements:
            _sync(app)
        return len(statements)

    five = statements_for(5, 0)
    twenty = statements_for(20, 100)
    assert twenty - five == 3 * (five - statements_for(0, 200)), (five, twenty)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SyncedEmail)) == 25


def test_encoded_headers_and_attachment_names_are_decoded(app):
    from models.services import mail_sync as service

    raw = ("From: =?utf-8?q?Jos=C3=A9_Pe=C3=B1a?= <jose@debtor.example>\r\nTo: billing@business.example\r\n"
           "Subject: =?utf-8?q?Caf=C3=A9_invoice?= paid\r\nMessage-ID: <enc@x>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n--b\r\nContent-Type: application/pdf\r\n"
           "Content-Disposition: attachment; filename*=utf-8''Beleg%20%C3%BC.pdf\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n").encode("latin-1")
    with app.app_context():
        parsed = service.parse(raw)
    assert (parsed.from_name, parsed.from_address) == ("José Peña", "jose@debtor.example")
    assert parsed.subject == "Café invoice paid"
    assert parsed.text.strip() == "Grüße"
    assert [(a.filename, a.content) for a in parsed.attachments] == [("Beleg ü.pdf", b"%PDF")]
    assert parsed.problems == []
