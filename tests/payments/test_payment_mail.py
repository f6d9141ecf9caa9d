"""The "payment received" e-mail: invoice category, so the customer is To and the contact
persons who subscribed to invoice e-mails are CC — decided when it is sent, in the
customer's language, with the amount and the invoices it paid."""

from __future__ import annotations

from sqlalchemy import select

from mailers import messages, routing
from models.contacts import ContactRole
from models.customers import Customer
from models.db import db
from models.outbox import MailCategory, OutboundEmail
from models.services import contacts
from tests import factories
from tests.payments.conftest import Debtor, page_token, pay, token_for


def add_contact(app, customer, email: str, invoice_emails: bool) -> None:
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        contacts.add_contact(contacts.Actor(), record, contacts.ContactInput(
            name=email.split("@")[0], email=email, phone=None, role=ContactRole.general,
            invoice_emails=invoice_emails, account_emails=not invoice_emails))
        db.session.commit()


def paid_by_test_provider(client, debtor: Debtor, invoice="all") -> None:
    location = pay(client, debtor, invoice).headers["Location"]
    token = page_token(client.get(location))  # the test checkout's form carries it
    assert client.post(location, data={"csrf_token": token, "outcome": "success"}).status_code == 303


def built(app, customer_id: int):
    with app.app_context():
        email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.customer_id == customer_id))
        customer = db.session.get(Customer, customer_id)
        recipients = routing.recipients_for(email, customer)
        result = messages.build(email, customer, recipients)
        return email.category, recipients, result


def test_payment_received_goes_to_the_customer_and_cc_to_subscribed_contacts(app, client, debtor: Debtor):
    add_contact(app, debtor.customer, "billing@example.com", invoice_emails=True)
    add_contact(app, debtor.customer, "ops@example.com", invoice_emails=False)
    paid_by_test_provider(client, debtor)

    category, recipients, result = built(app, debtor.customer.id)
    assert category == MailCategory.invoice
    assert recipients.to == ["dora@example.test"] and recipients.cc == ["billing@example.com"]
    assert result.subject == "Payment received — My business"
    text = result.message.body
    assert "We received your payment of €321.00. Thank you!" in text
    assert f"Invoices: {debtor.invoices['open'].number}, {debtor.invoices['partial'].number}" in text
    assert f"/d/{debtor.token}" in text  # every customer e-mail carries the dossier link
    assert "€321.00" in result.message.html


def test_the_mail_is_in_the_customers_language(app, client):
    customer = factories.customer(language="de", email="kunde@example.test")
    invoice = factories.invoice(customer, amount="10.00", vat="19")
    paid_by_test_provider(client, Debtor(customer, token_for(app, customer)), invoice.id)
    _, recipients, result = built(app, customer.id)
    assert recipients.to == ["kunde@example.test"]
    assert "11,90" in result.message.body and invoice.number in result.message.body
