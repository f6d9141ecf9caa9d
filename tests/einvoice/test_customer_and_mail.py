"""A customer's buyer reference (Leitweg-ID) and e-invoice format, set on the staff form,
shown on the Info tab, and used: the e-invoice carries the reference, and the invoice's and
credit note's e-mail attach the chosen format -- a file that passes the EN 16931 rules."""

from __future__ import annotations

import pytest
from lxml import etree

from mailers import messages, routing
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.outbox import OutboundEmail
from models.services import notifications
from models.staff import StaffUser
from tests import factories
from tests.admin.test_customers import browser_form_data, created_id, customer_form, details
from tests.conftest import field_error, input_value
from tests.einvoice.conftest import assert_valid, credit_note_for, embedded_xml, make_document, save_settings
from tests.letters.conftest import require_pdf


@pytest.fixture(autouse=True)
def _no_redis(app, monkeypatch):
    """Rows wait in the outbox: the message is built here, as the worker builds it."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


def test_staff_set_the_buyer_reference_and_the_mail_format(app, owner_client):
    customer_id = created_id(owner_client.post("/admin/customers/new", data=customer_form(
        kind="company", name="Amt", company_name="Bezirksamt Mitte", country="DE",
        buyer_reference="04011000-12345-67", einvoice_format="xrechnung-ubl")))
    info = owner_client.soup(f"/admin/customers/{customer_id}/info")
    assert details(info)["Buyer reference (Leitweg-ID)"] == "04011000-12345-67"
    assert details(info)["E-invoice in invoice e-mails"] == "XRechnung (UBL)"

    form = owner_client.soup(f"/admin/customers/{customer_id}/edit")
    assert input_value(form, "Buyer reference (Leitweg-ID)") == "04011000-12345-67"
    assert input_value(form, "E-invoice in invoice e-mails") == "xrechnung-ubl"
    data = browser_form_data(form.find("form", class_="stacked"))
    data.update(einvoice_format=["facturx"], buyer_reference=[""])
    assert owner_client.post(f"/admin/customers/{customer_id}/edit", data=data).status_code == 302
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        assert (customer.einvoice_format, customer.buyer_reference) == ("facturx", None)


def test_an_unknown_format_is_refused_at_the_field(app, owner_client):
    response = owner_client.post("/admin/customers/new", data=customer_form(name="X", einvoice_format="pdf"))
    assert response.status_code == 422
    from bs4 import BeautifulSoup

    assert field_error(BeautifulSoup(response.data, "html.parser"), "E-invoice in invoice e-mails") == "Not a valid choice."


def built(app, owner, document):
    """The e-mail issuing `document`, built as the worker builds it."""
    with app.app_context():
        email = notifications.send_document(db.session.get(StaffUser, owner.id), db.session.get(Document, document.id))
        db.session.commit()
        email = db.session.get(OutboundEmail, email.id)
        customer = db.session.get(Customer, email.customer_id)
        return messages.build(email, customer, routing.recipients_for(email, customer)).message


def attachments(message) -> dict[str, bytes]:
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def test_the_invoice_mail_attaches_xrechnung_with_the_leitweg_id(app, owner, seller, buyer):
    with app.app_context():
        customer = db.session.get(Customer, buyer.id)
        customer.einvoice_format, customer.buyer_reference = "xrechnung-ubl", "991-12345-67"
        db.session.commit()
    invoice = make_document(buyer, [("Rosen", "12", "2.50", "19"), ("Erde", "3", "4.99", "7")])
    message = built(app, owner, invoice)
    files = attachments(message)
    assert list(files) == [f"invoice-{invoice.number}.xrechnung-ubl.xml"]
    xml = files[f"invoice-{invoice.number}.xrechnung-ubl.xml"]
    assert_valid(xml)
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    assert etree.fromstring(xml).findtext("cbc:BuyerReference", namespaces=ns) == "991-12345-67"
    assert invoice.number in message["Subject"] and message.body  # the mail itself is intact

    note = credit_note_for(invoice, [("Rosen, welk", "2", "2.50", "19")])
    assert_valid(attachments(built(app, owner, note))[f"credit-note-{note.number}.xrechnung-ubl.xml"])


def test_the_invoice_mail_attaches_a_factur_x_pdf(app, owner, seller, buyer):
    require_pdf(app)
    with app.app_context():
        db.session.get(Customer, buyer.id).einvoice_format = "facturx"
        db.session.commit()
    invoice = make_document(buyer, [("Rosen", "12", "2.50", "19")])
    files = attachments(built(app, owner, invoice))
    pdf = files[f"invoice-{invoice.number}.pdf"]
    assert pdf.startswith(b"%PDF")
    assert_valid(embedded_xml(pdf))


def test_no_format_no_attachment_and_a_missing_vat_id_still_sends_the_mail(app, owner, seller, buyer):
    invoice = make_document(buyer, [("Rosen", "12", "2.50", "19")])
    assert attachments(built(app, owner, invoice)) == {}  # the default: none
    with app.app_context():
        db.session.get(Customer, buyer.id).einvoice_format = "xrechnung-ubl"
        db.session.commit()
    save_settings(app, vat_id=None, tax_number=None)
    second = make_document(buyer, [("Rosen", "1", "2.50", "19")])
    message = built(app, owner, second)
    assert attachments(message) == {}
    assert second.number in message["Subject"]
    # A reminder's or quote's mail never carries one.
    save_settings(app, vat_id="DE123456789")
    quote = factories.document(buyer, "quote")
    assert attachments(built(app, owner, quote)) == {}
