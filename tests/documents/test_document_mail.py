"""The e-mail that issues each kind of document: its category decides who gets it in CC (the
existing routing rules), it carries the document's own dossier URL, drafts and cancelled
documents are refused; the business's own opening text fills in its placeholders; and a
quote decided by the customer is told to the staff member assigned to them (or the owner)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update

from mailers import messages, routing
from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.outbox import MailCategory, OutboundEmail
from models.services import dossier, notifications
from models.services.errors import DomainError
from models.services.settings import get_settings
from models.staff import StaffUser
from tests import factories
from tests.conftest import TEST_CONFIG
from tests.mailers.conftest import add_contact

BASE_URL = TEST_CONFIG["BASE_URL"]
KINDS = {  # kind: (template, category, subject)
    "invoice": ("invoice_issued", MailCategory.invoice, "Invoice {number} from My business"),
    "credit_note": ("document_credit_note", MailCategory.invoice, "Credit note {number} from My business"),
    "reminder": ("document_reminder", MailCategory.invoice, "Reminder {number} from My business"),
    "quote": ("document_quote", MailCategory.account, "Quote {number} from My business"),
    "order_confirmation": ("document_order_confirmation", MailCategory.account,
                           "Order confirmation {number} from My business"),
    "delivery_note": ("document_delivery_note", MailCategory.account, "Delivery note {number} from My business"),
}


@pytest.fixture(autouse=True)
def _no_redis(app, monkeypatch):
    """Rows just wait in the outbox: the message is built here, as the worker builds it."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def customer(app):
    customer = factories.customer(name="Anna Achterberg", email="anna@example.test", language="en")
    add_contact(app, customer.id, "billing@example.test", invoice=True, account=False)
    add_contact(app, customer.id, "orders@example.test", invoice=False, account=True)
    return customer


def make(customer, kind: str):
    if kind == "invoice":
        return factories.invoice(customer, amount="100.00")
    if kind == "credit_note":
        return factories.credit_note(factories.invoice(customer, amount="100.00"), amount="15.00")
    if kind == "reminder":
        return factories.reminder(customer, [factories.invoice(customer, amount="100.00", vat="0", due_in_days=-9)],
                                  fee="5.00", interest="0.50")
    return factories.document(customer, kind, amount="100.00")


def send(app, actor, document) -> int:
    with app.app_context():
        email = notifications.send_document(db.session.get(StaffUser, actor.id), db.session.get(Document, document.id))
        db.session.commit()
        return email.id


def built(app, email_id: int):
    """The row, its recipients and its message, exactly as the worker routes and builds them."""
    with app.app_context():
        email = db.session.get(OutboundEmail, email_id)
        customer = db.session.get(Customer, email.customer_id) if email.customer_id else None
        recipients = routing.recipients_for(email, customer)
        return email, recipients, messages.build(email, customer, recipients)


def document_url(app, document) -> str:
    with app.app_context():
        url = dossier.document_url(db.session.get(Document, document.id))
        db.session.commit()
        return url


def save_settings(app, **values) -> None:
    with app.app_context():
        settings = get_settings(for_update=True)
        for name, value in values.items():
            setattr(settings, name, value)
        db.session.commit()


def html_links(message) -> list[str]:
    return [a["href"] for a in BeautifulSoup(message.html, "html.parser").find_all("a")]


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_is_mailed_in_its_category_with_its_own_url(app, owner, customer, kind):
    document = make(customer, kind)
    template, category, subject = KINDS[kind]
    url = document_url(app, document)  # the customer's dossier link exists (the worker makes it first)
    email, recipients, result = built(app, send(app, owner, document))

    assert (email.template, email.category, email.document_id) == (template, category, document.id)
    assert recipients.to == ["anna@example.test"]
    # CC: the contact persons subscribed to the category, decided when it is sent.
    assert recipients.cc == (["billing@example.test"] if category == MailCategory.invoice else ["orders@example.test"])
    assert result.subject == subject.format(number=document.number)
    assert url.startswith(f"{BASE_URL}/d/") and url.endswith(f"/documents/{document.id}")
    assert url in result.message.body
    assert url in html_links(result.message)
    assert url.rsplit("/documents/", 1)[0] in html_links(result.message)  # and the dossier, as every customer mail
    with app.app_context():
        sent = db.session.get(Document, document.id)
        assert sent.sent_at is not None  # cancelling it now needs a credit note
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == f"{kind}.sent"))
        assert (event.actor_staff_id, event.entity_id) == (owner.id, document.id)


def test_what_each_mail_says(app, owner, customer):
    documents = {kind: make(customer, kind) for kind in KINDS}
    texts = {kind: built(app, send(app, owner, document))[2].message.body for kind, document in documents.items()}
    assert "Amount credited: €15.00" in texts["credit_note"]
    with app.app_context():
        credited = db.session.get(Document, documents["credit_note"].id).related
        assert f"For invoice: {credited.number}" in texts["credit_note"]
    assert "Reminder fee: €5.00" in texts["reminder"] and "Interest: €0.50" in texts["reminder"]
    assert "Total due: €105.50" in texts["reminder"]  # the invoice's €100.00 and the reminder's own €5.50
    assert "Valid until:" in texts["quote"] and "You can accept or decline the quote on that page." in texts["quote"]
    assert "€" not in texts["delivery_note"]
    assert "Total: €121.00" in texts["order_confirmation"]


@pytest.mark.parametrize("status", ["draft", "cancelled"])
def test_a_draft_or_cancelled_document_is_not_sent(app, owner, customer, status):
    document = (factories.document(customer, "invoice", draft=True) if status == "draft"
                else factories.document(customer, "quote"))
    if status == "cancelled":
        with app.app_context():
            factories.write_directly(update(Document).where(Document.id == document.id).values(status="cancelled"))
            db.session.commit()
    with app.app_context():
        with pytest.raises(DomainError) as refused:
            notifications.send_document(db.session.get(StaffUser, owner.id), db.session.get(Document, document.id))
        db.session.rollback()
        assert str(refused.value.message) == ("Issue the draft before sending it." if status == "draft"
                                              else "A cancelled document is not sent.")
        assert db.session.scalar(select(OutboundEmail.id)) is None
        assert db.session.get(Document, document.id).sent_at is None


def test_send_invoice_still_sends_invoices_only(app, owner, customer):
    quote = factories.document(customer, "quote")
    invoice = factories.invoice(customer)
    with app.app_context():
        actor = db.session.get(StaffUser, owner.id)
        with pytest.raises(DomainError):
            notifications.send_invoice(actor, db.session.get(Document, quote.id))
        email = notifications.send_invoice(actor, db.session.get(Document, invoice.id))
        assert (email.template, email.category) == ("invoice_issued", MailCategory.invoice)


def test_a_document_the_customer_cannot_open_is_mailed_with_the_dossier_link_only(app, owner, customer):
    quote = factories.document(customer, "quote", released_to_portal=False)
    _, _, result = built(app, send(app, owner, quote))
    assert f"/documents/{quote.id}" not in result.message.body
    assert "/d/" in result.message.body  # the dossier link is always there
    save_settings(app, released_kinds=["invoice"])
    delivery = factories.document(customer, "delivery_note")
    _, _, result = built(app, send(app, owner, delivery))
    assert f"/documents/{delivery.id}" not in result.message.body


def test_no_secret_link_in_a_mail_with_cc(app, owner, customer):
    """CC recipients get the mail too: it carries the dossier and document links, never a
    login activation or password link."""
    email, recipients, result = built(app, send(app, owner, make(customer, "invoice")))
    assert recipients.cc
    for text in (result.message.body, result.message.html):
        assert "/portal/invite/" not in text and "/portal/reset/" not in text


def test_the_mail_is_in_the_customers_language(app, owner):
    german = factories.customer(name="Kurt Kunde", email="kurt@example.test", language="de")
    quote = factories.document(german, "quote")
    _, _, result = built(app, send(app, owner, quote))
    assert result.message.body.startswith("Guten Tag Kurt Kunde,")


# --- the business's own text, with placeholders ------------------------------------------------


def test_the_opening_text_fills_in_its_placeholders(app, owner, customer):
    save_settings(app, document_mail_texts={
        "quote": "Hello {customer_name}, here is quote {document_number}: {document_url} (all: {dossier_url})"})
    quote = factories.document(customer, "quote")
    url = document_url(app, quote)
    dossier_url = url.rsplit("/documents/", 1)[0]
    _, _, result = built(app, send(app, owner, quote))
    assert f"Hello Anna Achterberg, here is quote {quote.number}: {url} (all: {dossier_url})" in result.message.body
    assert "Please find our quote" not in result.message.body  # instead of the standard sentence
    links = [a for a in BeautifulSoup(result.message.html, "html.parser").find_all("a") if a.get_text() == url]
    assert [a["href"] for a in links] == [url]  # a URL placeholder is a link
    # Other kinds keep the standard sentence.
    order = factories.document(customer, "order_confirmation")
    _, _, result = built(app, send(app, owner, order))
    assert "Thank you for your order." in result.message.body


def test_the_opening_text_is_escaped_in_html(app, owner):
    customer = factories.customer(name="<b>Evil</b> & Co", email="evil@example.test", language="en")
    save_settings(app, document_mail_texts={"invoice": "Dear {customer_name} <script>alert(1)</script>"})
    _, _, result = built(app, send(app, owner, factories.invoice(customer)))
    assert "<script>" not in result.message.html and "<b>Evil</b>" not in result.message.html
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in result.message.html
    assert "Dear <b>Evil</b> & Co <script>alert(1)</script>" in result.message.body  # plain text is plain


# --- a quote decided by the customer -------------------------------------------------------------


def decide(app, quote, accept: bool, comment: str = "") -> int | None:
    with app.app_context():
        record = db.session.get(Document, quote.id)
        record.status = "accepted" if accept else "rejected"
        record.decided_by_name, record.decision_comment = "Anna Achterberg", comment or None
        record.decided_at = datetime.now(timezone.utc)
        db.session.flush()
        email = notifications.quote_decided(record)
        db.session.commit()
        return email.id if email else None


def test_a_decided_quote_is_told_to_the_assigned_staff_member_only(app, owner):
    zara = factories.staff(name="Zara Zuiderveld", email="zara@example.test")
    bram = factories.staff(name="Bram Bakker", email="bram@example.test")
    customer = factories.customer(name="Anna Achterberg", assigned_to=[zara, bram], language="nl")
    add_contact(app, customer.id, "orders@example.test", invoice=False, account=True)
    quote = factories.document(customer, "quote", amount="100.00")

    email, recipients, result = built(app, decide(app, quote, True, "Please start in May.\nThanks!"))
    assert email.category == MailCategory.system and email.customer_id is None
    assert (recipients.to, recipients.cc) == (["bram@example.test"], [])  # the first assigned, by name
    assert result.subject == f"Quote {quote.number} was accepted"  # in the staff member's language
    body = result.message.body
    assert f"Anna Achterberg ({customer.number}) accepted quote {quote.number} in their dossier." in body
    assert "Decided by: Anna Achterberg" in body and "Please start in May.\nThanks!" in body
    assert f"{BASE_URL}/admin/documents/{quote.id}" in html_links(result.message)
    assert "/d/" not in body  # a mail to staff: no customer's dossier link


def test_a_rejected_quote_of_an_unassigned_customer_goes_to_the_owner(app, owner):
    factories.staff(role="admin", name="Adam Admin", email="adam@example.test")
    customer = factories.customer(name="Nobody's Customer")
    quote = factories.document(customer, "quote")
    _, recipients, result = built(app, decide(app, quote, False))
    assert recipients.to == [owner.email]
    assert result.subject == f"Quote {quote.number} was rejected"
    assert "They left no comment." in result.message.body


def test_only_a_decided_quote_is_reported(app, owner, customer):
    quote = factories.document(customer, "quote")
    with app.app_context():
        with pytest.raises(DomainError):
            notifications.quote_decided(db.session.get(Document, quote.id))
