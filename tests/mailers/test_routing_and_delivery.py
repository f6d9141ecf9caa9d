"""Who receives what, what the message looks like, and what staff see: end to end through
the staff pages, the outbox, a real Redis, an RQ worker and a real SMTP server (the sink)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, select, update

from mailers import messages
from models.audit import AuditEvent
from models.contacts import ContactPerson
from models.db import db
from models.documents import Document, DocumentStatus
from models.outbox import MailStatus, OutboundEmail
from models.services import dossier, notifications
from tests import factories
from tests.mailers.conftest import (
    add_contact,
    email_log,
    latest_emails,
    outbox_row,
    outbox_rows,
    queued_ids,
    set_business,
    sleep_until_retries_are_due,
)

HEADERS_WE_WRITE = {"content-type", "mime-version", "subject", "from", "to", "cc", "date", "message-id"}


def only(items):
    assert len(items) == 1, items
    return items[0]


def send_invoice(staff_client, invoice_id: int, **data):
    response = staff_client.post(f"/admin/invoices/{invoice_id}/send", data=data)
    assert response.status_code == 302, response.data[:500]
    return response


def send_notice(staff_client, customer_id: int, notice: str = "shipped", message: str = ""):
    response = staff_client.post(f"/admin/customers/{customer_id}/notice",
                                 data={"notice": notice, "message": message})
    assert response.status_code == 302, response.data[:500]
    assert response.headers["Location"].endswith(f"/admin/customers/{customer_id}/emails")
    return response


# --------------------------------------------------------------------------- routing


def by_recipient(mails) -> dict[str, object]:
    """Each delivered message by its one envelope recipient (lower case)."""
    result = {}
    for mail in mails:
        assert len(mail.rcpt_tos) == 1, mail.rcpt_tos
        result[mail.rcpt_tos[0].lower()] = mail
    return result


def test_contact_copies_follow_the_category_and_each_address_appears_once(mail_app, sink, run_worker, owner_client):
    customer = factories.customer(email="Anna@Example.test")
    add_contact(mail_app, customer.id, "billing@example.test", invoice=True, account=False)
    add_contact(mail_app, customer.id, "ops@example.test", invoice=False, account=True)
    add_contact(mail_app, customer.id, "both@example.test", invoice=True, account=True)
    add_contact(mail_app, customer.id, "nothing@example.test", invoice=False, account=False)
    # the primary address again, and a contact twice, in other spellings
    add_contact(mail_app, customer.id, "anna@EXAMPLE.test", invoice=True, account=True)
    add_contact(mail_app, customer.id, " Billing@example.TEST ", invoice=True, account=False)
    invoice = factories.invoice(customer)

    send_invoice(owner_client, invoice.id)
    run_worker()
    # The customer's message first, then each contact's own copy (To that contact, no CC).
    invoice_mails = by_recipient(sink.received())
    assert list(invoice_mails) == ["anna@example.test", "billing@example.test", "both@example.test"]
    assert [(m.to, m.cc) for m in invoice_mails.values()] == [
        (["Anna@Example.test"], []), (["billing@example.test"], []), (["both@example.test"], [])]
    assert len({m.message_id for m in invoice_mails.values()}) == 3

    send_notice(owner_client, customer.id)
    run_worker()
    assert sink.count() == 6
    notices = by_recipient(sink.received()[3:])
    assert list(notices) == ["anna@example.test", "ops@example.test", "both@example.test"]
    assert all(m.cc == [] for m in notices.values())

    everyone = [a.lower() for m in sink.received() for a in m.rcpt_tos]
    assert "nothing@example.test" not in everyone
    invoice_row, notice_row = outbox_rows(mail_app)
    assert (invoice_row.recipients_to, invoice_row.recipients_cc) == (
        ["Anna@Example.test"], ["billing@example.test", "both@example.test"])
    assert (notice_row.recipients_to, notice_row.recipients_cc) == (
        ["Anna@Example.test"], ["ops@example.test", "both@example.test"])


def test_a_contact_removed_or_unsubscribed_after_queueing_gets_nothing(mail_app, sink, run_worker, owner_client):
    customer = factories.customer(email="anna@example.test")
    removed = add_contact(mail_app, customer.id, "removed@example.test")
    unsubscribed = add_contact(mail_app, customer.id, "unsubscribed@example.test")
    add_contact(mail_app, customer.id, "stays@example.test")
    invoice = factories.invoice(customer)

    send_invoice(owner_client, invoice.id)
    assert len(queued_ids(mail_app)) == 1  # on the queue with the old contact list...
    with mail_app.app_context():  # ...then the contacts change before the worker runs
        factories.write_directly(delete(ContactPerson).where(ContactPerson.id == removed))
        factories.write_directly(update(ContactPerson).where(ContactPerson.id == unsubscribed).values(invoice_emails=False))
        db.session.commit()
    run_worker()

    assert list(by_recipient(sink.received())) == ["anna@example.test", "stays@example.test"]
    assert only(outbox_rows(mail_app)).recipients_cc == ["stays@example.test"]


def test_no_primary_address_sends_nothing_and_says_so(mail_app, sink, run_worker, owner_client):
    customer = factories.customer(email=None)
    add_contact(mail_app, customer.id, "billing@example.test")  # a CC alone is not enough
    invoice = factories.invoice(customer)

    page = owner_client.post(f"/admin/invoices/{invoice.id}/send", follow_redirects=True)
    assert page.status_code == 200
    assert b"No e-mail address is known for this customer" in page.data
    run_worker()

    assert sink.attempts == []
    row = only(outbox_rows(mail_app))
    assert row.status == MailStatus.failed
    assert row.last_error == "No e-mail address known"
    logged = only(email_log(owner_client, customer.id))
    assert "failed" in logged["Status"] and "No e-mail address known" in logged["Status"]
    assert logged["To"] == "" and logged["CC"] == ""
    overview = owner_client.soup(f"/admin/customers/{customer.id}")
    assert "No e-mail address known" in overview.find(class_="alert-error").get_text()


# --------------------------------------------------------------------------- the log


def test_sent_recipients_are_logged_and_the_overview_shows_the_latest_five(mail_app, sink, run_worker, owner_client):
    customer = factories.customer(email="anna@example.test", language="en")
    add_contact(mail_app, customer.id, "bill@example.test")
    add_contact(mail_app, customer.id, "ops@example.test", invoice=False, account=True)
    invoices = [factories.invoice(customer) for _ in range(7)]
    for invoice in invoices:
        send_invoice(owner_client, invoice.id)

    before = email_log(owner_client, customer.id)
    assert [r["Status"] for r in before] == ["queued"] * 7
    assert all(r["To"] == "" and r["CC"] == "" for r in before)  # decided only when sent

    run_worker()
    assert sink.count() == 14  # each with bill@'s own copy
    subjects = [f"Invoice {inv.number} from My business" for inv in reversed(invoices)]  # newest first
    log = email_log(owner_client, customer.id)
    assert [r["E-mail"] for r in log] == subjects
    for r in log:
        assert (r["Status"], r["To"], r["CC"]) == ("sent", "anna@example.test", "bill@example.test")
    overview = latest_emails(owner_client, customer.id)
    assert [r["E-mail"] for r in overview] == subjects[:5]
    assert all((r["Status"], r["To"], r["CC"]) == ("sent", "anna@example.test", "bill@example.test")
               for r in overview)


# --------------------------------------------------------------------------- the message


def test_message_id_is_the_same_on_every_attempt(mail_app, sink, run_worker, owner_client):
    customer = factories.customer(email="anna@example.test")
    invoice = factories.invoice(customer)
    sink.data_reply = "451 4.3.0 Try again later (test)"
    send_invoice(owner_client, invoice.id)
    email_id = only(outbox_rows(mail_app)).id

    run_worker()  # attempt 1: 451
    row = outbox_row(mail_app, email_id)
    assert (row.status, row.attempts) == (MailStatus.queued, 1)
    assert "451 4.3.0 Try again later (test)" in row.last_error
    sleep_until_retries_are_due(mail_app)
    run_worker(with_scheduler=True)  # attempt 2: 451 again
    assert outbox_row(mail_app, email_id).attempts == 2
    sink.accept_everything()
    sleep_until_retries_are_due(mail_app)
    run_worker(with_scheduler=True)  # attempt 3: accepted

    row = outbox_row(mail_app, email_id)
    assert (row.status, row.attempts, row.last_error) == (MailStatus.sent, 3, None)
    assert len(sink.attempts) == 3
    ids = {m.message_id for m in sink.attempts}
    with mail_app.app_context():
        expected = messages.message_id(email_id)
    assert ids == {expected} == {row.message_id}
    assert re.fullmatch(rf"<outbox\.{email_id}\.[0-9a-f]{{16}}@dossier\.example>", expected)
    assert only(sink.received()).message_id == expected


@pytest.mark.parametrize(
    ("language", "invoice_subject", "notice_subject"),
    [
        ("nl", "Factuur {number} van Acme BV", "Uw bestelling is verzonden — Acme BV"),
        ("de", "Rechnung {number} von Acme BV", "Ihre Bestellung wurde versandt — Acme BV"),
        ("en", "Invoice {number} from Acme BV", "Your order has been shipped — Acme BV"),
    ],
)
def test_mail_is_in_the_customers_language_and_carries_the_dossier_link(
    mail_app, sink, run_worker, owner_client, client, language, invoice_subject, notice_subject
):
    set_business(mail_app, business_name="Acme BV")
    customer = factories.customer(email="anna@example.test", language=language)
    invoice = factories.invoice(customer)
    send_invoice(owner_client, invoice.id)
    send_notice(owner_client, customer.id)
    run_worker()

    invoice_mail, notice_mail = sink.received()
    assert invoice_mail.subject == invoice_subject.format(number=invoice.number)
    assert notice_mail.subject == notice_subject
    with mail_app.app_context():
        token = dossier.current_token(customer.id)
    link = f"https://dossier.example/d/{token}"
    for mail in (invoice_mail, notice_mail):
        assert link in mail.text and link in mail.html
    assert client.get(f"/d/{token}").status_code == 200  # the link in the mail opens the dossier


@pytest.mark.parametrize(("language", "english_phrase"), [("nl", "Dear "), ("de", "Dear ")])
def test_mail_body_is_in_the_customers_language(mail_app, sink, run_worker, owner_client, language, english_phrase):
    customer = factories.customer(email="anna@example.test", language=language)
    send_invoice(owner_client, factories.invoice(customer).id)
    run_worker()
    text = only(sink.received()).text
    assert english_phrase not in text
    assert "Kind regards" not in text and "All your invoices" not in text


def test_staff_actions_send_invoice_reminder_and_account_notice(mail_app, sink, run_worker, owner_client):
    set_business(mail_app, business_name="Acme BV", sender_name="Acme Billing", sender_email="billing@acme.test")
    customer = factories.customer(email="anna@example.test", language="en")
    invoice = factories.invoice(customer)
    paid = factories.invoice(customer, status=DocumentStatus.paid, amount_paid="121.00")

    response = send_invoice(owner_client, invoice.id)
    assert response.headers["Location"].endswith(f"/admin/documents/{invoice.id}")
    send_invoice(owner_client, invoice.id, reminder="1", confirm="1")  # not due yet: confirmed
    refused = owner_client.post(f"/admin/invoices/{paid.id}/send", data={"reminder": "1"}, follow_redirects=True)
    assert refused.status_code == 200 and b"Only an unpaid invoice gets a reminder." in refused.data
    bad = owner_client.post(f"/admin/customers/{customer.id}/notice", data={"notice": "bogus"})
    assert bad.status_code == 422
    send_notice(owner_client, customer.id, "shipped", "Tracking number ABC123")

    rows = outbox_rows(mail_app)
    assert [(r.template, r.document_id, r.status) for r in rows] == [
        ("invoice_issued", invoice.id, MailStatus.queued),
        ("invoice_reminder", invoice.id, MailStatus.queued),
        ("account_notice", None, MailStatus.queued),
    ]
    assert queued_ids(mail_app) == [r.id for r in rows]
    with mail_app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert [a for a in actions if a.startswith(("invoice.", "account_notice."))] == [
        "invoice.sent", "invoice.reminded", "account_notice.sent"]

    run_worker()
    issued, reminder, notice = sink.received()
    assert issued.subject == f"Invoice {invoice.number} from Acme BV"
    assert reminder.subject == f"Reminder: invoice {invoice.number} from Acme BV"
    assert notice.subject == "Your order has been shipped — Acme BV"
    assert invoice.number in issued.text and "121" in issued.text
    assert "still open" in reminder.text
    assert "Tracking number ABC123" in notice.text
    for mail in (issued, reminder, notice):
        assert mail.mail_from == "billing@acme.test"
        assert mail.sender == ("Acme Billing", "billing@acme.test")
        assert mail.rcpt_tos == ["anna@example.test"]
    assert [r.status for r in outbox_rows(mail_app)] == [MailStatus.sent] * 3


# --------------------------------------------------------------------------- transactions


def test_a_rolled_back_transaction_queues_nothing(mail_app, sink, run_worker):
    customer = factories.customer(email="anna@example.test")
    invoice = factories.invoice(customer)
    with mail_app.app_context():
        email = notifications.send_invoice(None, db.session.get(Document, invoice.id))
        assert email.id is not None  # flushed: the id exists inside the transaction
        db.session.rollback()
        assert db.session.get(OutboundEmail, email.id) is None
        # rows queued in and around a released savepoint, in a transaction that then rolls back
        notifications.send_invoice(None, db.session.get(Document, invoice.id))
        with db.session.begin_nested():
            notifications.send_reminder(None, db.session.get(Document, invoice.id))
        assert queued_ids(mail_app) == []
        db.session.rollback()
        # a later commit in the same session must not enqueue the rolled-back id
        db.session.add(ContactPerson(customer_id=customer.id, name="Later", email="later@example.test"))
        db.session.commit()
    assert queued_ids(mail_app) == []
    assert outbox_rows(mail_app) == []
    run_worker()
    assert sink.attempts == []


def test_a_row_is_enqueued_only_after_commit(mail_app, sink, run_worker):
    customer = factories.customer(email="anna@example.test")
    invoice = factories.invoice(customer)
    with mail_app.app_context():
        document = db.session.get(Document, invoice.id)
        first = notifications.send_invoice(None, document)
        db.session.flush()
        assert queued_ids(mail_app) == []  # written, not committed: nothing on the queue yet
        with db.session.begin_nested():
            notifications.send_reminder(None, document)
        savepoint = db.session.begin_nested()
        notifications.send_reminder(None, document)
        savepoint.rollback()  # a rolled-back savepoint keeps the outer rows
        assert queued_ids(mail_app) == []
        db.session.commit()
        first_id = first.id
    rows = outbox_rows(mail_app)
    assert [r.template for r in rows] == ["invoice_issued", "invoice_reminder"]
    assert set(queued_ids(mail_app)) >= {r.id for r in rows}
    run_worker()
    assert sorted(m.subject.split()[0] for m in sink.received()) == ["Factuur", "Herinnering:"]
    assert outbox_row(mail_app, first_id).status == MailStatus.sent


# --------------------------------------------------------------------------- refused, injection


def test_a_refused_contact_copy_is_recorded_and_shown(mail_app, sink, run_worker, owner_client):
    customer = factories.customer(email="anna@example.test")
    for name in ("one", "two", "three"):
        add_contact(mail_app, customer.id, f"{name}@example.test")
    sink.refuse["two@example.test"] = "550 5.1.1 No such user two (test)"
    send_invoice(owner_client, factories.invoice(customer).id)
    run_worker()

    assert list(by_recipient(sink.received())) == ["anna@example.test", "one@example.test", "three@example.test"]
    row = only(outbox_rows(mail_app))
    assert row.status == MailStatus.sent
    assert row.refused == {"two@example.test": "550 5.1.1 No such user two (test)"}
    logged = only(email_log(owner_client, customer.id))
    assert logged["Status"].startswith("sent")
    assert "Refused: two@example.test (550 5.1.1 No such user two (test))" in logged["Status"]


def test_a_contact_copy_the_server_cannot_take_now_is_retried_on_its_own(mail_app, sink, run_worker, owner_client):
    customer = factories.customer(email="anna@example.test")
    add_contact(mail_app, customer.id, "one@example.test")
    later = add_contact(mail_app, customer.id, "later@example.test")
    gone = add_contact(mail_app, customer.id, "gone@example.test")
    sink.refuse["later@example.test"] = "451 4.3.0 Mailbox busy, try later (test)"
    sink.refuse["gone@example.test"] = "451 4.3.0 Mailbox busy, try later (test)"
    send_invoice(owner_client, factories.invoice(customer).id)
    run_worker()

    assert list(by_recipient(sink.received())) == ["anna@example.test", "one@example.test"]
    original, *copies = outbox_rows(mail_app)
    assert original.status == MailStatus.sent
    assert original.refused == {
        "later@example.test": "451 4.3.0 Mailbox busy, try later (test) (retried separately)",
        "gone@example.test": "451 4.3.0 Mailbox busy, try later (test) (retried separately)",
    }
    assert [(c.status, c.attempts) for c in copies] == [(MailStatus.queued, 1)] * 2
    assert all(c.next_attempt_at is not None for c in copies)

    sink.refuse.clear()
    with mail_app.app_context():  # one of them unsubscribes before the retry
        factories.write_directly(update(ContactPerson).where(ContactPerson.id == gone).values(invoice_emails=False))
        db.session.commit()
    sleep_until_retries_are_due(mail_app)
    run_worker(with_scheduler=True)

    mails = by_recipient(sink.received())
    assert list(mails) == ["anna@example.test", "one@example.test", "later@example.test"]  # anna once
    assert mails["later@example.test"].rcpt_tos == ["later@example.test"]
    assert "later@example.test" not in mails["anna@example.test"].raw.decode()
    copies = {c.recipients_cc[0] if c.recipients_cc else c.last_error: c for c in outbox_rows(mail_app)[1:]}
    assert copies["later@example.test"].status == MailStatus.sent
    assert copies["later@example.test"].message_id == mails["later@example.test"].message_id
    unsubscribed = copies["Not sent: the contact person no longer receives these e-mails"]
    assert unsubscribed.status == MailStatus.failed
    logged = email_log(owner_client, customer.id)
    copy_line = only([row for row in logged if row["CC"] == "later@example.test"])
    assert (copy_line["To"], copy_line["Status"].split()[0]) == ("", "sent")


def _header_block(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    return head.decode().splitlines()


def test_line_breaks_in_names_and_messages_inject_no_headers(mail_app, sink, run_worker, owner_client):
    set_business(
        mail_app,
        business_name="Acme\r\nBcc: evil@example.test",
        sender_name="Sales\nX-Injected: yes\r\nBcc: evil2@example.test",
    )
    customer = factories.customer(email="anna@example.test", language="en")
    send_invoice(owner_client, factories.invoice(customer).id)
    send_notice(owner_client, customer.id, "shipped",
                "Hello\r\nBcc: evil3@example.test\r\nX-Injected: yes\r\n\r\nSecond paragraph")
    run_worker()

    mails = sink.received()
    assert len(mails) == 2
    for mail in mails:
        names = {name.lower() for name, _ in mail.headers}
        assert names <= HEADERS_WE_WRITE, names
        assert not [line for line in _header_block(mail.raw) if re.match(r"(?i)(bcc|x-injected):", line)]
        assert mail.rcpt_tos == ["anna@example.test"]
        assert "\n" not in mail.subject and "\r" not in mail.subject
        assert mail.sender == ("Sales X-Injected: yes Bcc: evil2@example.test", "dossier@localhost")
    assert mails[0].subject.endswith("from Acme Bcc: evil@example.test")
    assert mails[1].subject == "Your order has been shipped — Acme Bcc: evil@example.test"
    assert "Second paragraph" in mails[1].text  # the message is body text, where line breaks are harmless
    assert [r.status for r in outbox_rows(mail_app)] == [MailStatus.sent, MailStatus.sent]


@pytest.mark.parametrize("name", [
    "Janssen Installatietechniek en Onderhoud, Utrecht B.V.",
    "Müller & Söhne Gebäudetechnik GmbH, Niederlassung Köln",
    "Acme: Billing",
    "Bakkerij Ünal",
])
def test_the_sender_name_arrives_intact_as_one_from_address(mail_app, sink, run_worker, owner_client, name):
    set_business(mail_app, business_name=name, sender_email="billing@acme.test")
    customer = factories.customer(email="anna@example.test", language="en")
    send_invoice(owner_client, factories.invoice(customer).id)
    run_worker()
    mail = only(sink.received())
    assert mail.sender == (name, "billing@acme.test")
    assert mail.subject.endswith(f" from {name}")
