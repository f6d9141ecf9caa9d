"""The staff side of synced mail: the conversation on the E-mails tab (synced reply next to the
invoice mail it answers), unread counts and the "Replies to read" filter, reading, replying
in the thread, deleting (audited), unmatched mail assigned; remote images only on request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mailers import mail_sync, messages
from mailers.routing import Recipients
from models.audit import AuditEvent
from models.contacts import ContactPerson
from models.db import db, now_utc
from models.mailbox import SyncedEmail, SyncedEmailLink
from models.outbox import MailCategory, OutboundEmail
from tests import factories
from tests.conftest import field_error, soup_of
from tests.mail_sync.conftest import message
from tests.mail_sync.records import synced_email
from tests.mail_sync.test_sync import _sent_invoice_mail


@pytest.fixture
def customer(app):
    return factories.customer(name="Dana Debtor", email="dana@debtor.example")


def _synced_id(app, message_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(SyncedEmail.id).where(SyncedEmail.message_id == message_id))


def test_a_synced_reply_shows_in_the_invoice_mails_conversation(app, owner_client, mailbox, customer, owner):
    _email_id, _invoice_id, invoice_message_id = _sent_invoice_mail(app, customer, owner)
    mailbox.append(message(sender="Dana Debtor <dana@debtor.example>", subject="Re: Invoice", body="Paid on Monday.",
                           message_id="<reply@debtor.example>", in_reply_to=invoice_message_id,
                           references=invoice_message_id, date=now_utc() + timedelta(minutes=5)).as_bytes())
    with app.app_context():
        mail_sync.run()
    soup = owner_client.soup(f"/admin/customers/{customer.id}/emails")
    (thread,) = soup.find(id="conversations-h").find_parent("section").find_all("article")
    items = [li.get_text(" ", strip=True) for li in thread.find_all("li")]
    assert len(items) == 2
    assert items[0].startswith(tuple("0123456789")) and "Sent by Dossier to dana@debtor.example" in items[0]
    assert "From Dana Debtor" in items[1] and "Re: Invoice" in items[1] and "unread" in items[1]
    assert "reply to a Dossier e-mail" in items[1]
    assert "1 unread" in thread.h3.get_text()
    # The customer list and the dashboard count it; the filter keeps the customer.
    other = factories.customer(name="Quiet Customer", email="quiet@example.com")
    listed = owner_client.soup("/admin/customers?attention=replies_to_read")
    names = [row.find("td").find("a").get_text(strip=True) for row in listed.select("table tbody tr")]
    assert names == ["Dana Debtor"]
    assert "1 e-mail to read" in listed.get_text(" ", strip=True)
    dashboard = owner_client.soup("/admin/")
    row = dashboard.find("a", string="Replies to read").find_parent("tr")
    assert row.find("td").get_text(strip=True) == "1 customer"
    # Opening the message marks it read.
    page = owner_client.soup(f"/admin/customers/{customer.id}/emails/synced/{_synced_id(app, '<reply@debtor.example>')}")
    assert "Paid on Monday." in page.get_text()
    listed = owner_client.soup("/admin/customers?attention=replies_to_read")
    assert "No customers match your search." in listed.get_text()
    assert other.name not in names


def test_a_reply_goes_to_the_sender_in_the_same_thread(app, owner_client, customer):
    with app.app_context():
        synced_id, _ = synced_email(customer.id, sender="carl@debtor.example", subject="Wrong address")
        original = db.session.get(SyncedEmail, synced_id)
        original.references = "<root@x.example>"
        original.thread_key = "<root@x.example>"
        db.session.commit()
        message_id = original.message_id
    url = f"/admin/customers/{customer.id}/emails/synced/{synced_id}/reply"
    response = owner_client.post(url, data={"subject": "Re: Wrong address", "message": ""})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Message") == "Enter a message."
    response = owner_client.post(url, data={"subject": "Re: Wrong address", "message": "We corrected it."})
    assert response.status_code == 302
    with app.app_context():
        row = db.session.scalar(select(OutboundEmail).where(OutboundEmail.template == "mail_reply"))
        assert (row.to_address, row.customer_id, row.category) == ("carl@debtor.example", customer.id, MailCategory.system)
        from models.customers import Customer

        built = messages.build(row, db.session.get(Customer, customer.id), Recipients(to=[row.to_address]))
        assert built.message["In-Reply-To"] == message_id
        assert built.message["References"] == f"<root@x.example> {message_id}"
        assert built.subject == "Re: Wrong address"
        assert "We corrected it." in built.message.body
    # It is shown in the conversation, before it is even sent.
    thread = owner_client.soup(f"/admin/customers/{customer.id}/emails").find(id="conversations-h").find_parent("section")
    assert "Sent by Dossier to carl@debtor.example" in thread.get_text(" ", strip=True)


def test_deleting_a_message_is_confirmed_and_audited(app, owner_client, customer):
    with app.app_context():
        synced_id, _ = synced_email(customer.id, subject="Spam about invoices")
    url = f"/admin/customers/{customer.id}/emails/synced/{synced_id}/delete"
    asked = owner_client.post(url)
    assert asked.status_code == 200 and "Delete the e-mail" in soup_of(asked).h1.get_text()
    with app.app_context():
        assert db.session.get(SyncedEmail, synced_id) is not None
    assert owner_client.post(url, data={"confirm": "1"}).status_code == 302
    with app.app_context():
        assert db.session.get(SyncedEmail, synced_id) is None
        assert db.session.scalar(select(func.count()).select_from(SyncedEmailLink)) == 0  # unread count too
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "synced_email.deleted"))
        assert event.customer_id == customer.id and event.changes["subject"][0] == "Spam about invoices"
    assert owner_client.get(f"/admin/customers/{customer.id}/emails/synced/{synced_id}").status_code == 404


def test_another_customers_message_is_not_found(app, owner_client, customer):
    other = factories.customer(name="Other One", email="other@example.com")
    with app.app_context():
        synced_id, attachment_id = synced_email(other.id, subject="Not yours")
    base = f"/admin/customers/{customer.id}/emails/synced/{synced_id}"
    for url in (base, base + "/remote", base + f"/attachments/{attachment_id}"):
        assert owner_client.get(url).status_code == 404, url
    assert owner_client.post(base + "/delete", data={"confirm": "1"}).status_code == 404
    own = f"/admin/customers/{other.id}/emails/synced/{synced_id}/attachments/{attachment_id}"
    response = owner_client.get(own)
    assert response.status_code == 200 and response.data == b"%PDF"
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_remote_images_load_only_on_their_own_page(app, owner_client, customer):
    with app.app_context():
        synced_id, _ = synced_email(customer.id)
        email = db.session.get(SyncedEmail, synced_id)
        from models.services import mail_html

        email.html_body = mail_html.sanitise('<p>Hi</p><img src="https://tracker.example/p.gif"><script>x()</script>')
        db.session.commit()
    page = owner_client.get(f"/admin/customers/{customer.id}/emails/synced/{synced_id}")
    soup = soup_of(page)
    assert "img-src 'self' data:" in page.headers["Content-Security-Policy"]  # the page's CSP as everywhere
    assert soup.select_one(".mail-html img").get("src") is None
    assert "1 remote image was not loaded" in soup.get_text(" ", strip=True)
    link = soup.find("a", string="Load remote images")
    remote = owner_client.get(link["href"])
    assert remote.status_code == 200
    assert 'src="https://tracker.example/p.gif"' in remote.get_data(as_text=True)
    assert "<script" not in remote.get_data(as_text=True)
    csp = remote.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp


def test_unmatched_mail_is_assigned_and_its_sender_becomes_a_contact(app, owner_client, employee_client, customer):
    with app.app_context():
        synced_id, _ = synced_email(customer.id, sender="new.person@debtor.example", subject="Who am I")
        db.session.query(SyncedEmailLink).filter_by(synced_email_id=synced_id).delete()
        db.session.get(SyncedEmail, synced_id).matched = False
        db.session.get(SyncedEmail, synced_id).from_name = "New Person"
        db.session.commit()
    assert employee_client.get("/admin/mailbox/unmatched").status_code == 403
    soup = owner_client.soup("/admin/mailbox/unmatched")
    assert "Who am I" in soup.find("table").get_text()
    url = f"/admin/mailbox/unmatched/{synced_id}/assign"
    response = owner_client.post(url, data={"customer_number": "NOPE-1"})
    assert response.status_code == 422
    assert "No customer has this number." in soup_of(response).get_text()
    response = owner_client.post(url, data={"customer_number": customer.number, "add_contact": "y"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(SyncedEmailLink, (synced_id, customer.id)) is not None
        contact = db.session.scalar(select(ContactPerson).where(ContactPerson.customer_id == customer.id))
        assert (contact.name, contact.email) == ("New Person", "new.person@debtor.example")
        assert not contact.invoice_emails  # recognised from now on, not sent copies unasked
    assert "No unmatched e-mail." in owner_client.soup("/admin/mailbox/unmatched").get_text()


def test_synced_mail_never_reaches_the_portal(app, customer):
    """No portal template or route reads synced mail: the portal package never imports it."""
    from pathlib import Path

    portal = Path(__file__).resolve().parents[2] / "portal"
    for path in list(portal.rglob("*.py")) + list((portal.parent / "templates" / "portal").rglob("*.html")):
        text = path.read_text()
        assert "synced_mail" not in text and "SyncedEmail" not in text and "synced_email" not in text, path


def test_the_emails_tab_costs_the_same_with_few_or_many_synced_messages(app, owner_client, customer):
    from tests.conftest import count_queries

    def statements(count: int) -> int:
        with app.app_context():
            for n in range(count):
                synced_email(customer.id, subject=f"Message {n}")
        url = f"/admin/customers/{customer.id}/emails"
        owner_client.get(url)
        with count_queries(app) as seen:
            soup = owner_client.soup(url)
        assert len(soup.find(id="conversations-h").find_parent("section").find_all("article")) >= count
        return len(seen)

    assert statements(3) == statements(60)
