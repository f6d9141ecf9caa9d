"""E-invoices in: files Dossier wrote (UBL, CII, Factur-X) uploaded at /admin/einvoices/upload
come back as the same document (round trip), for a customer found by VAT id, customer number
or e-mail address, or for a new customer staff confirm. What is no valid e-invoice is a 422
that says why, naming the EN 16931 rules it breaks."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select, update

from models.customers import Customer
from models.db import db
from models.documents import Document, DocumentKind, DocumentLine, DocumentStatus
from models.services import einvoice
from tests import factories
from tests.api.conftest import ApiClient, make_key
from tests.conftest import field_error, soup_of
from tests.einvoice.conftest import credit_note_for, make_document, save_settings
from tests.letters.conftest import require_pdf

UPLOAD = "/admin/einvoices/upload"


def exported(app, document, fmt: str) -> bytes:
    with app.app_context():
        return einvoice.render(db.session.get(Document, document.id), fmt).content


def forget(app, document) -> None:
    """The document gone from Dossier (as if it were only in the invoicing system)."""
    with app.app_context():
        factories.write_directly(delete(DocumentLine).where(DocumentLine.document_id == document.id))
        factories.write_directly(update(Document).where(Document.related_id == document.id).values(related_id=None))
        factories.write_directly(delete(Document).where(Document.id == document.id))
        db.session.commit()


def from_an_unknown_buyer(app, number: str, company_name: str) -> tuple[Document, bytes]:
    """An XRechnung (UBL) invoice to a German company, non-ASCII names, that Dossier does not
    know: exported, then the invoice and its customer deleted. The invoice (detached) and the file."""
    stranger = factories.customer(number=number, kind="company", name="Åsa Ødegård", company_name=company_name,
                                  email="kontakt@weissbier.example.com", street="Bräuhausstraße 3", postal_code="80331",
                                  city="München", country="DE", vat_id="DE111222333")
    invoice = make_document(stranger, [("Malz", "20", "3.10", "7")])
    content = exported(app, invoice, "xrechnung-ubl")
    forget(app, invoice)
    with app.app_context():
        factories.write_directly(delete(Customer).where(Customer.id == stranger.id))
        db.session.commit()
    return invoice, content


def upload(client, content: bytes, filename: str = "invoice.xml"):
    return client.post(UPLOAD, data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def stored(app, kind: str, number: str):
    with app.app_context():
        document = db.session.scalar(select(Document).where(Document.kind == DocumentKind(kind), Document.number == number))
        assert document is not None, number
        lines = [(l.description, l.quantity, l.unit_price, l.vat_rate) for l in document.lines]
        related = document.related.number if document.related_id else None
        return document, lines, related


LINES = [("Rosen, 12 Stück", "12", "2.50", "19"), ("Blumenerde „Spezial“", "3", "4.99", "7"),
         ("Beratung", "1.5", "40.00", "0")]


@pytest.mark.parametrize("fmt", ["xrechnung-ubl", "xrechnung-cii", "facturx"])
def test_round_trip_into_the_customer_found_by_vat_id(app, owner_client, seller, buyer, fmt):
    if fmt == "facturx":
        require_pdf(app)
    invoice = make_document(buyer, LINES, notes="Grüße aus Berlin")
    content = exported(app, invoice, fmt)
    forget(app, invoice)

    response = upload(owner_client, content, "rechnung.pdf" if fmt == "facturx" else "rechnung.xml")
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:1500]
    document, lines, _ = stored(app, "invoice", invoice.number)
    assert response.headers["Location"] == f"/admin/documents/{document.id}"
    assert document.customer_id == buyer.id
    assert lines == [("Rosen, 12 Stück", Decimal("12"), Decimal("2.50"), Decimal("19")),
                     ("Blumenerde „Spezial“", Decimal("3"), Decimal("4.99"), Decimal("7")),
                     ("Beratung", Decimal("1.5"), Decimal("40.00"), Decimal("0"))]
    assert (document.net_total, document.tax_total, document.gross_total) == (
        invoice.net_total, invoice.tax_total, invoice.gross_total)
    assert (document.issue_date, document.due_date, document.currency, document.status) == (
        invoice.issue_date, invoice.due_date, "EUR", DocumentStatus.open)
    assert document.notes == "Grüße aus Berlin"
    page = owner_client.soup(response.headers["Location"])
    assert f"The e-invoice was imported as {invoice.number}." in page.get_text()

    # The same file again changes nothing.
    again = upload(owner_client, content)
    assert again.status_code == 302
    assert f"{invoice.number} is unchanged" in owner_client.soup(again.headers["Location"]).get_text()
    with app.app_context():
        assert db.session.scalar(select(func.count(Document.id))) == 1


def test_a_credit_note_and_a_partially_paid_invoice_come_back(app, owner_client, seller, buyer):
    invoice = make_document(buyer, LINES)
    note = credit_note_for(invoice, [("Rosen, welk", "2", "2.50", "19")])
    content = exported(app, note, "xrechnung-ubl")
    forget(app, note)
    assert upload(owner_client, content).status_code == 302
    document, lines, related = stored(app, "credit_note", note.number)
    assert related == invoice.number and document.gross_total == Decimal("5.95")

    paid = make_document(buyer, [("Rosen", "10", "10.00", "19")])
    with app.app_context():
        factories.write_directly(update(Document).where(Document.id == paid.id).values(
            amount_paid=Decimal("50.00"), status=DocumentStatus.partially_paid))
        db.session.commit()
    content = exported(app, paid, "xrechnung-cii")
    forget(app, paid)
    assert upload(owner_client, content).status_code == 302
    document, _, _ = stored(app, "invoice", paid.number)
    assert (document.amount_paid, document.outstanding, document.status) == (
        Decimal("50.00"), Decimal("69.00"), DocumentStatus.partially_paid)


def test_customers_are_found_by_number_then_by_e_mail(app, owner_client, seller):
    by_number = factories.customer(number="K-77", name="Zoë Brandt", email="zoe@brandt.example.com", country="DE")
    invoice = make_document(by_number, [("Arbeit", "1", "100.00", "19")])
    content = exported(app, invoice, "xrechnung-ubl")
    forget(app, invoice)
    with app.app_context():  # the number changed in Dossier: the e-mail address still finds her
        db.session.get(Customer, by_number.id).number = "K-78"
        db.session.commit()
    assert upload(owner_client, content).status_code == 302
    assert stored(app, "invoice", invoice.number)[0].customer_id == by_number.id

    other = factories.customer(number="K-90", name="Émile Ørn", email="emile@orn.example.com", country="DE")
    second = make_document(other, [("Arbeit", "1", "10.00", "19")])
    content = exported(app, second, "xrechnung-cii")
    forget(app, second)
    with app.app_context():
        db.session.get(Customer, other.id).email = "new@orn.example.com"
        db.session.commit()
    assert upload(owner_client, content).status_code == 302  # by the customer number K-90
    assert stored(app, "invoice", second.number)[0].customer_id == other.id


def test_an_unknown_buyer_is_proposed_and_created_on_confirmation(app, employee_client, employee, seller):
    invoice, content = from_an_unknown_buyer(app, "N-5", "Weißbier & Söhne GmbH")

    page = upload(employee_client, content)
    assert page.status_code == 200
    soup = soup_of(page)
    section = soup.find("h2", string="New customer").find_parent("section")
    proposal = {dt.get_text(strip=True): dt.find_next_sibling("dd").get_text(" ", strip=True) for dt in section.find_all("dt")}
    assert proposal["Company name"] == "Weißbier & Söhne GmbH" and proposal["Name"] == "Åsa Ødegård"
    assert proposal["Customer number"] == "N-5" and proposal["VAT ID"] == "DE111222333"
    with app.app_context():
        assert db.session.scalar(select(func.count(Customer.id))) == 0  # nothing made before the confirmation
    form = section.find("form")
    data = {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name")}
    response = employee_client.post(form["action"], data=data)
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:1000]
    with app.app_context():
        customer = db.session.scalar(select(Customer))
        assert (customer.company_name, customer.name, customer.number, customer.city, customer.vat_id, customer.language) == (
            "Weißbier & Söhne GmbH", "Åsa Ødegård", "N-5", "München", "DE111222333", "de")
        assert [s.id for s in customer.assigned_staff] == [employee.id]  # the employee still sees it
    document, lines, _ = stored(app, "invoice", invoice.number)
    assert document.customer_id == customer.id and document.gross_total == Decimal("66.34")
    assert employee_client.get(response.headers["Location"]).status_code == 200


def test_an_employee_is_not_matched_to_a_customer_they_cannot_see(app, employee_client, seller, buyer):
    invoice = make_document(buyer, [("Rosen", "1", "2.50", "19")])
    content = exported(app, invoice, "xrechnung-ubl")
    forget(app, invoice)
    page = upload(employee_client, content)
    assert page.status_code == 200 and soup_of(page).find("h2", string="New customer") is not None
    assert "Bäckerei Weiß KG" in soup_of(page).get_text()  # what the file itself says, nothing from Dossier


def refusal(response) -> tuple[str, list[tuple[str, str]]]:
    assert response.status_code == 422, response.status_code
    alert = soup_of(response).find("section", role="alert")
    rows = [tuple(td.get_text(" ", strip=True) for td in tr.find_all("td")) for tr in alert.select("tbody tr")]
    return alert.find("p").get_text(" ", strip=True), rows


def test_a_file_breaking_rules_is_refused_with_the_rules_in_words(app, owner_client, seller, buyer):
    invoice = make_document(buyer, LINES)
    content = exported(app, invoice, "xrechnung-ubl").replace(
        b'<cbc:TaxInclusiveAmount currencyID="EUR">', b'<cbc:TaxInclusiveAmount currencyID="EUR">1')
    forget(app, invoice)
    message, rules = refusal(upload(owner_client, content))
    assert "breaks" in message and "EN 16931 rules" in message
    rule_ids = [rule for rule, _text in rules]
    assert "BR-CO-15" in rule_ids
    text = dict(rules)["BR-CO-15"]
    assert "Invoice total amount with VAT" in text and "BT-112" in text
    with app.app_context():
        assert db.session.scalar(select(func.count(Document.id))) == 0


@pytest.mark.parametrize("content,expected", [
    (b"", "Choose a file."),
    (b"Rechnung Nr. 1\nBetrag: 100 EUR\n", "This is not an XML file, nor a Factur-X PDF."),
    (b"<?xml version='1.0'?><Order xmlns='urn:example:order'><ID>1</ID></Order>", "Not a known e-invoice syntax: the file's root element is Order"),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>", "document type declaration"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF", "PDF"),
])
def test_what_is_no_e_invoice_is_refused_saying_why(app, owner_client, seller, content, expected):
    response = upload(owner_client, content)
    assert response.status_code == 422
    soup = soup_of(response)
    if not content:
        assert field_error(soup, "E-invoice file") == expected
    else:
        assert expected in soup.find("section", role="alert").get_text(" ", strip=True)
    assert "root:" not in soup.get_text()  # no file of the server was read into the page


def test_a_pdf_without_an_e_invoice_is_refused(app, owner_client, seller, buyer):
    require_pdf(app)
    from models.services import document_pdf, pdf

    invoice = make_document(buyer, [("Rosen", "1", "2.50", "19")])
    with app.app_context():
        sheet = document_pdf.build_sheet(db.session.get(Document, invoice.id))
        plain = document_pdf.to_pdf(pdf.load_weasyprint(), document_pdf.render_page(sheet))
    message, rules = refusal(upload(owner_client, plain, "invoice.pdf"))
    assert message == "This PDF carries no e-invoice: a Factur-X or ZUGFeRD PDF embeds factur-x.xml." and rules == []


def test_another_sellers_invoice_is_refused(app, owner_client, seller, buyer):
    invoice = make_document(buyer, [("Rosen", "1", "2.50", "19")])
    content = exported(app, invoice, "xrechnung-cii")
    forget(app, invoice)
    save_settings(app, vat_id="DE999999999")
    response = upload(owner_client, content)
    assert response.status_code == 422
    assert field_error(soup_of(response), "E-invoice file").startswith(
        "This e-invoice was issued by Müller & Søn Gärtnerei GmbH (VAT id DE123456789), not by this business")


@pytest.mark.parametrize("fmt", ["xrechnung-ubl", "xrechnung-cii"])
def test_a_discount_line_at_a_negative_quantity_comes_back(app, owner_client, seller, buyer, fmt):
    """An e-invoice writes a discount as -1 × 10.00 (a price is never negative, BR-27); Dossier
    refused negative quantities, so such a file could not be imported."""
    invoice = make_document(buyer, [("Rosen", "4", "25.00", "19"), ("Rabatt", "1", "-10.00", "19")])
    content = exported(app, invoice, fmt)
    assert b"-1<" in content  # the quantity as the file states it
    forget(app, invoice)
    response = upload(owner_client, content)
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:1500]
    document, lines, _ = stored(app, "invoice", invoice.number)
    assert lines == [("Rosen", Decimal("4"), Decimal("25.00"), Decimal("19")),
                     ("Rabatt", Decimal("1"), Decimal("-10.00"), Decimal("19"))]
    assert document.gross_total == invoice.gross_total


@pytest.mark.parametrize("fmt,amount", [("xrechnung-ubl", b"abc"), ("xrechnung-cii", b"abc"),
                                        ("xrechnung-ubl", b"1E+30")])
def test_an_amount_that_is_no_number_is_refused_not_a_500(app, owner_client, seller, buyer, fmt, amount):
    """The rules stop with an XPath error (SaxonC's PySaxonApiError) on a total that is no
    decimal: that was a 500 for the upload and the API."""
    invoice = make_document(buyer, [("Rosen", "4", "25.00", "19")])
    content = exported(app, invoice, fmt).replace(b">100.00<", b">" + amount + b"<", 1)
    forget(app, invoice)
    message, rules = refusal(upload(owner_client, content))
    assert "cannot be checked" in message and rules == []
    api = ApiClient(app.test_client(), make_key(app, owner_client.user))
    answer = api.post("/api/v1/einvoices", data=content, headers={"Content-Type": "application/xml"})
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    assert "cannot be checked" in answer.get_json()["detail"] and answer.get_json()["field"] == "body"
    with app.app_context():
        assert db.session.scalar(select(func.count(Document.id))) == 0


def test_a_number_longer_than_dossier_keeps_is_refused_not_cut(app, owner_client, seller, buyer):
    """The number was cut to its first 40 characters: two invoices whose numbers only differ
    after that became one document (the second "unchanged", or overwriting the first)."""
    invoice = make_document(buyer, [("Rosen", "4", "25.00", "19")])
    content = exported(app, invoice, "xrechnung-ubl")
    forget(app, invoice)
    long_number = "INV-" + "0" * 40
    for last in ("1", "2"):
        response = upload(owner_client, content.replace(f">{invoice.number}<".encode(), f">{long_number}{last}<".encode()))
        assert response.status_code == 422
        assert "at most 40 characters" in field_error(soup_of(response), "E-invoice file")
    with app.app_context():
        assert db.session.scalar(select(func.count(Document.id))) == 0
