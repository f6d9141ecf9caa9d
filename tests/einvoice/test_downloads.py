"""E-invoice downloads: staff from the document's page, the customer from the document's page
in the dossier (link and login). Each link is found by its text and the file it gives passes
the EN 16931 rules; what a place may not reach (another customer's, an unreleased document,
downloads switched off, a quote) is a 404, and what cannot be an e-invoice says why."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from models.db import db
from models.documents import Document
from models.services import dossier
from tests import factories
from tests.conftest import soup_of
from tests.einvoice.conftest import assert_valid, credit_note_for, embedded_xml, make_document, save_settings
from tests.letters.conftest import require_pdf
from tests.portal.conftest import active_login, logged_in

LINKS = ("Factur-X PDF", "XRechnung (UBL)", "XRechnung (CII)")


def links_of(soup) -> dict[str, str]:
    return {a.get_text(strip=True): a["href"] for a in soup.find_all("a") if a.get_text(strip=True) in LINKS}


def downloaded(client, href: str) -> bytes:
    response = client.get(href)
    assert response.status_code == 200, (href, response.status_code, response.data[:300])
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return response.data


def content_xml(href: str, data: bytes) -> bytes:
    return embedded_xml(data) if "facturx" in href else data


@pytest.fixture
def invoice(app, seller, buyer):
    return make_document(buyer, [("Rosen", "12", "2.50", "19"), ("Erde", "3", "4.99", "7"), ("Beratung", "1", "60", "0")])


def test_staff_download_every_format_from_the_document_page(app, owner_client, invoice):
    require_pdf(app)
    links = links_of(owner_client.soup(f"/admin/documents/{invoice.id}"))
    assert set(links) == set(LINKS)
    for text, href in links.items():
        data = downloaded(owner_client, href)
        assert_valid(content_xml(href, data))
    assert owner_client.get(f"/admin/documents/{invoice.id}/einvoice/xrechnung-ubl").mimetype == "application/xml"
    assert owner_client.get(f"/admin/documents/{invoice.id}/einvoice/zugferd-1").status_code == 404


def test_staff_download_a_credit_note(app, owner_client, invoice):
    note = credit_note_for(invoice, [("Rosen, welk", "2", "2.50", "19")])
    links = links_of(owner_client.soup(f"/admin/documents/{note.id}"))
    assert_valid(downloaded(owner_client, links["XRechnung (UBL)"]))
    assert_valid(downloaded(owner_client, links["XRechnung (CII)"]))


def test_a_draft_or_a_quote_has_no_e_invoice_and_says_why(app, owner_client, seller, buyer):
    draft = factories.document(buyer, "invoice", draft=True)
    quote = factories.document(buyer, "quote")
    for document in (draft, quote):
        assert links_of(owner_client.soup(f"/admin/documents/{document.id}")) == {}
        response = owner_client.get(f"/admin/documents/{document.id}/einvoice/xrechnung-cii")
        assert response.status_code == 409
    assert "issue it first" in soup_of(owner_client.get(f"/admin/documents/{draft.id}/einvoice/xrechnung-cii")).get_text()


def test_without_the_business_vat_id_staff_are_told_to_enter_it(app, owner_client, invoice):
    save_settings(app, vat_id=None, tax_number=None)
    response = owner_client.get(f"/admin/documents/{invoice.id}/einvoice/xrechnung-ubl")
    assert response.status_code == 409
    assert "VAT id" in soup_of(response).get_text()


def test_an_employee_gets_404_for_another_customers_document(app, employee_client, invoice):
    assert employee_client.get(f"/admin/documents/{invoice.id}/einvoice/xrechnung-ubl").status_code == 404


def dossier_page(app, client, document):
    """The document's page in the dossier, in English (the customer's language decides)."""
    with app.app_context():
        db.session.get(Document, document.id).customer.language = "en"
        url = dossier.document_url(db.session.get(Document, document.id))
        db.session.commit()
    return client.get(url)


def test_the_customer_downloads_them_from_the_dossier_and_the_portal(app, client, invoice, buyer):
    require_pdf(app)
    links = links_of(soup_of(dossier_page(app, client, invoice)))
    assert set(links) == set(LINKS) and all(href.startswith("/d/") for href in links.values())
    for href in links.values():
        assert_valid(content_xml(href, downloaded(client, href)))

    active_login(app, buyer, "weiss.login@example.com")
    portal = logged_in(app.test_client(), "weiss.login@example.com")
    links = links_of(soup_of(portal.get(f"/portal/documents/{invoice.id}")))
    assert links["XRechnung (UBL)"] == f"/portal/documents/{invoice.id}/einvoice/xrechnung-ubl"
    assert_valid(downloaded(portal, links["XRechnung (UBL)"]))


def test_the_dossier_respects_downloads_release_and_isolation(app, client, invoice, buyer, eu_buyer):
    links = links_of(soup_of(dossier_page(app, client, invoice)))
    ubl = links["XRechnung (UBL)"]
    # Another customer's invoice through this link: 404.
    other = make_document(eu_buyer, [("Saatgut", "1", "10.00", "0")])
    assert client.get(ubl.replace(f"/documents/{invoice.id}/", f"/documents/{other.id}/")).status_code == 404
    # Downloads switched off: no links, and the address is a 404.
    save_settings(app, allow_pdf_download=False)
    assert links_of(soup_of(dossier_page(app, client, invoice))) == {}
    assert client.get(ubl).status_code == 404
    save_settings(app, allow_pdf_download=True)
    # Withdrawn from the customer: 404.
    with app.app_context():
        factories.write_directly(update(Document).where(Document.id == invoice.id).values(released_to_portal=False))
        db.session.commit()
    assert client.get(ubl).status_code == 404


def test_a_quote_in_the_dossier_has_no_e_invoice(app, client, seller, buyer):
    quote = factories.document(buyer, "quote")
    page = dossier_page(app, client, quote)
    assert page.status_code == 200 and links_of(soup_of(page)) == {}
    href = page.request.path + "/einvoice/xrechnung-ubl"
    assert client.get(href).status_code == 404


def test_without_the_business_vat_id_the_customer_is_offered_no_e_invoice(app, client, invoice):
    """The links would only give a failed download (the 409 page is never shown for a link
    with `download`): the page offers the PDF and no e-invoice until the business can make one."""
    save_settings(app, vat_id=None, tax_number=None)
    page = soup_of(dossier_page(app, client, invoice))
    assert links_of(page) == {}
    assert page.find("a", string="Download PDF") is not None
    href = dossier_page(app, client, invoice).request.path + "/einvoice/xrechnung-ubl"
    assert client.get(href).status_code == 409  # the address still says why
    save_settings(app, vat_id="DE123456789")
    assert set(links_of(soup_of(dossier_page(app, client, invoice)))) == set(LINKS)
