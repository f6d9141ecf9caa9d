"""The bank details and the EPC QR code on an open invoice: decoded from the rendered PDF,
the letter and the dossier page, and parsed field by field against EPC069-12."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stdnum import iso11649

from models.documents import DocumentStatus
from models.services import epc
from tests import factories
from tests.conftest import soup_of
from tests.epc.conftest import parse_epc, pdf_qr_codes_all_pages
from tests.letters.conftest import decode_svg, pdf_text
from tests.portal.test_dossier_link import dossier_url, path_of

ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
def debtor(app):
    return factories.customer(name="Dora Debtor", street="Keizersgracht 12", postal_code="1015 CX",
                              city="Amsterdam", country="NL", language="en", email=None)


def epc_codes(codes: list[str]) -> list[dict]:
    return [parse_epc(code) for code in codes if code.startswith("BCD")]


# --- the RF creditor reference -------------------------------------------------------------


@pytest.mark.parametrize("number", ["2026-00042", "INV-2026/7", "Q.2026_00001", "a1"])
def test_the_rf_reference_has_valid_check_digits_and_leads_back_to_the_number(number):
    reference = epc.rf_reference(number)
    assert iso11649.is_valid(reference)
    assert reference.startswith("RF")
    assert epc.reference_body(reference) == epc.number_key(number)
    assert epc.rf_reference(number) == reference  # derived, not random


def test_a_reference_with_wrong_check_digits_leads_nowhere():
    reference = epc.rf_reference("2026-00042")
    wrong = reference[:2] + f"{(int(reference[2:4]) + 1) % 100:02d}" + reference[4:]
    assert epc.reference_body(wrong) is None
    assert epc.reference_body("not a reference") is None
    assert epc.rf_reference("---") is None and epc.rf_reference("X" * 22) is None


# --- the PDF ---------------------------------------------------------------------------------


def test_the_pdf_of_an_open_invoice_carries_an_epc_code_with_the_outstanding_amount(
        app, pdf_available, seller, owner_client, debtor):
    invoice = factories.invoice(debtor, amount="100.00", vat="21", amount_paid="21.50",
                                status=DocumentStatus.partially_paid)
    response = owner_client.get(f"/admin/documents/{invoice.id}/pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    [code] = epc_codes(pdf_qr_codes_all_pages(response.data))
    assert code == {"charset": "1", "bic": "ABNANL2A", "name": "Bakkerij Brood B.V.", "iban": "NL91ABNA0417164300",
                    "amount": Decimal("99.50"), "purpose": "", "reference": epc.rf_reference(invoice.number),
                    "text": ""}
    assert iso11649.is_valid(code["reference"])
    text = pdf_text(response.data)
    for shown in ("NL91 ABNA 0417 1643 00", "NL004495445B01", "KvK 30123456", "12345678", "Oudegracht 1",
                  epc.grouped(code["reference"])):
        assert shown in text, shown


def test_a_non_ascii_payee_name_survives_the_scan(app, pdf_available, seller, owner_client, debtor):
    seller(account_holder="Müller & Söhne GmbH", iban="DE89370400440532013000", bic="COBADEFFXXX")
    invoice = factories.invoice(debtor, amount="10.00", vat="0")
    [code] = epc_codes(pdf_qr_codes_all_pages(owner_client.get(f"/admin/documents/{invoice.id}/pdf").data))
    assert code["name"] == "Müller & Söhne GmbH"
    assert code["iban"] == "DE89370400440532013000" and code["bic"] == "COBADEFFXXX"
    assert code["amount"] == Decimal("10.00")


def test_the_invoice_letter_pdf_carries_the_epc_code_beside_the_dossier_code(
        app, pdf_available, seller, owner_client, debtor):
    invoice = factories.invoice(debtor, amount="50.00", vat="21")
    response = owner_client.get(f"/admin/invoices/{invoice.id}/letter.pdf?kind=invoice")
    assert response.status_code == 200
    codes = pdf_qr_codes_all_pages(response.data)
    [code] = epc_codes(codes)
    assert code["amount"] == Decimal("60.50") and code["reference"] == epc.rf_reference(invoice.number)
    assert any(text.startswith("http") for text in codes)  # the dossier link is still there
    assert "NL004495445B01" in pdf_text(response.data)


def test_a_paid_invoice_carries_no_code_but_the_seller_details(app, pdf_available, seller, owner_client, debtor):
    invoice = factories.invoice(debtor, amount="100.00", vat="0", amount_paid="100.00", status=DocumentStatus.paid)
    response = owner_client.get(f"/admin/documents/{invoice.id}/pdf")
    assert epc_codes(pdf_qr_codes_all_pages(response.data)) == []
    text = pdf_text(response.data)
    assert "NL004495445B01" in text and "Pay by bank transfer" not in text


# --- the print view and the dossier page -----------------------------------------------------


def test_the_print_view_shows_the_bank_details_and_a_named_code(app, seller, owner_client, debtor):
    invoice = factories.invoice(debtor, amount="100.00", vat="21")
    soup = owner_client.soup(f"/admin/documents/{invoice.id}/print")
    block = soup.find(id="bank-transfer")
    assert block.find("h2").get_text(strip=True) == "Pay by bank transfer"
    image = block.find(attrs={"role": "img"})
    assert "banking app" in image["aria-label"]
    [code] = epc_codes(decode_svg(image.find("svg")))
    assert code["amount"] == Decimal("121.00")
    assert block.find(id="payment-reference").get_text(strip=True) == epc.grouped(epc.rf_reference(invoice.number))
    footer = soup.find(id="seller").get_text(" ", strip=True)
    for shown in ("Bakkerij Brood B.V.", "Oudegracht 1, 3511 AB Utrecht, Netherlands", "VAT ID", "NL004495445B01",
                  "Registration number", "KvK 30123456", "Tax number", "NL91 ABNA 0417 1643 00", "ABNANL2A"):
        assert shown in footer, shown


def test_the_dossier_invoice_page_shows_the_code(app, seller, client, owner_client, debtor):
    invoice = factories.invoice(debtor, amount="100.00", vat="21")
    link = path_of(dossier_url(owner_client, debtor))
    soup = soup_of(client.get(f"{link}/invoices/{invoice.id}", headers=ENGLISH))
    image = soup.find(id="epc-qr")
    assert image["role"] == "img" and image["aria-label"]
    [code] = epc_codes(decode_svg(image.find("svg")))
    assert code["reference"] == epc.rf_reference(invoice.number)
    assert "NL004495445B01" in soup.find(id="seller").get_text(" ")


# --- bad input: another currency, no IBAN --------------------------------------------------


def test_an_invoice_in_another_currency_gets_no_code_but_a_note(app, pdf_available, seller, owner_client, debtor):
    invoice = factories.invoice(debtor, amount="100.00", vat="0", currency="USD")
    soup = owner_client.soup(f"/admin/documents/{invoice.id}/print")
    assert soup.find(id="epc-qr") is None
    note = soup.find(id="epc-note").get_text(" ", strip=True)
    assert "only for amounts in euros" in note and "USD" in note
    assert soup.find(id="payment-iban").get_text(strip=True) == "NL91 ABNA 0417 1643 00"
    response = owner_client.get(f"/admin/documents/{invoice.id}/pdf")
    assert epc_codes(pdf_qr_codes_all_pages(response.data)) == []
    assert "only for amounts in euros" in " ".join(pdf_text(response.data).split())


def test_without_an_iban_no_code_and_the_settings_warn(app, seller, owner_client, debtor):
    seller(iban=None, bic=None)
    invoice = factories.invoice(debtor, amount="100.00", vat="21")
    soup = owner_client.soup(f"/admin/documents/{invoice.id}/print")
    assert soup.find(id="bank-transfer") is None and soup.find(id="epc-qr") is None
    for page in ("/admin/settings", "/admin/settings/business-details"):
        warning = owner_client.soup(page).find(id="iban-warning")
        assert "no payment QR code" in warning.get_text(" "), page
    seller()
    assert owner_client.soup("/admin/settings").find(id="iban-warning") is None


def test_the_invoice_mail_footer_carries_the_seller_details(app, seller):
    from flask import render_template

    from models.services.settings import get_settings

    with app.test_request_context():
        html = render_template("mail/layout.html", business=get_settings())
        text = render_template("mail/layout.txt", business=get_settings())
    for body in (html, text):
        assert "NL004495445B01" in body and "NL91ABNA0417164300" in body and "Oudegracht 1" in body


def test_the_legal_address_is_the_letterhead_and_the_return_line(app, seller, owner_client, debtor):
    seller(address="Old free text address")  # the structured legal address wins
    invoice = factories.invoice(debtor, amount="10.00", vat="0")
    letter = owner_client.soup(f"/admin/invoices/{invoice.id}/letter?kind=invoice")
    assert letter.find(class_="return-line").get_text(strip=True) == \
        "Bakkerij Brood B.V. · Oudegracht 1, 3511 AB Utrecht, Netherlands"
    document = owner_client.soup(f"/admin/documents/{invoice.id}/print")
    assert document.find(class_="business-address").get_text("|", strip=True) == \
        "Oudegracht 1\n3511 AB Utrecht\nNetherlands"
