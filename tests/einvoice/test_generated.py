"""Every e-invoice Dossier writes passes the official EN 16931 rules with no fatal error --
in each format (XRechnung UBL, XRechnung CII, and the CII inside the Factur-X PDF) -- for
several VAT rates on one invoice, a 0 % reverse-charge EU customer, a credit note, a
partially paid invoice and names in ä, ß, é and Ø. The files are then read back for what
they say: amounts, categories, parties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree
from sqlalchemy import update

from models.db import db
from models.documents import Document, DocumentStatus
from models.services import einvoice
from models.services.einvoice import cii, ubl
from models.services.errors import DomainError
from tests import factories
from tests.einvoice.conftest import assert_valid, credit_note_for, embedded_xml, fatal_rules, make_document, save_settings
from tests.letters.conftest import require_pdf

XML_FORMATS = ("xrechnung-ubl", "xrechnung-cii")


def xml_of(app, document, fmt: str) -> bytes:
    with app.app_context():
        return einvoice.xml_of(db.session.get(Document, document.id), fmt)


def read(xml: bytes):
    root = etree.fromstring(xml)
    return cii.from_xml(root) if root.tag.endswith("CrossIndustryInvoice") else ubl.from_xml(root)


@pytest.fixture
def mixed(app, seller, buyer):
    return make_document(buyer, [
        ("Rosen, 12 Stück", "12", "2.50", "19"),
        ("Blumenerde „Spezial“", "3", "4.99", "7"),
        ("Lieferung", "1", "15.00", "19"),
        ("Beratung (steuerfrei)", "1.5", "40.00", "0"),
    ], notes="Vielen Dank für Ihren Auftrag — Grüße aus Berlin!")


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_several_vat_rates_pass_the_rules(app, mixed, fmt):
    xml = xml_of(app, mixed, fmt)
    assert_valid(xml)
    parsed = read(xml)
    assert [(row.category, row.rate, row.taxable, row.tax) for row in parsed.breakdown] == [
        ("S", Decimal("19"), Decimal("45.00"), Decimal("8.55")),
        ("S", Decimal("7"), Decimal("14.97"), Decimal("1.05")),
        ("Z", Decimal("0"), Decimal("60.00"), Decimal("0.00")),
    ]
    assert parsed.declared_totals == (Decimal("119.97"), Decimal("9.60"), Decimal("129.57"))
    assert (mixed.net_total, mixed.tax_total, mixed.gross_total) == parsed.declared_totals
    assert parsed.seller.name == "Müller & Søn Gärtnerei GmbH" and parsed.buyer.name == "Bäckerei Weiß KG"
    assert parsed.buyer.city == "München" and parsed.seller.street == "Straße des 17. Juni 1"
    assert parsed.buyer.identifier == "K-1001" and parsed.buyer.vat_id == "DE987654321"
    assert parsed.iban == "DE89370400440532013000" and parsed.due_date.isoformat() == "2026-11-30"
    assert parsed.payment_reference == "RF" + parsed.payment_reference[2:4] + mixed.number.replace("-", "")
    assert parsed.specification.endswith("xrechnung_3.0")
    assert "„Spezial“" in xml.decode("utf-8")


def test_reverse_charge_to_an_eu_business(app, seller, eu_buyer):
    document = make_document(eu_buyer, [("Saatgut", "10", "12.00", "0"), ("Versand", "1", "8.00", "0")])
    for fmt in XML_FORMATS:
        xml = xml_of(app, document, fmt)
        assert_valid(xml)
        parsed = read(xml)
        assert [(row.category, row.taxable, row.tax) for row in parsed.breakdown] == [
            ("AE", Decimal("128.00"), Decimal("0.00"))]
        assert {line.category for line in parsed.lines} == {"AE"}
        assert b"Reverse charge" in xml and b"VATEX-EU-AE" in xml
        assert parsed.buyer.name == "Ødegård ApS" and parsed.buyer.country == "DK"


def test_reverse_charge_without_the_buyers_vat_id_would_fail_so_it_is_zero_rated(app, seller):
    """No buyer VAT id, no reverse charge: rule BR-AE-02 would fire. The line is zero rated."""
    customer = factories.customer(kind="company", name="Åse Øien", company_name="Øien AS", country="DK")
    document = make_document(customer, [("Saatgut", "1", "50.00", "0")])
    xml = xml_of(app, document, "xrechnung-ubl")
    assert_valid(xml)
    assert [row.category for row in read(xml).breakdown] == ["Z"]


def test_the_rules_do_catch_a_broken_invoice(app, mixed):
    """A test that cannot fail is no test: the same file with its total changed fails BR-CO-15."""
    xml = xml_of(app, mixed, "xrechnung-ubl").replace(
        b'<cbc:TaxInclusiveAmount currencyID="EUR">129.57<', b'<cbc:TaxInclusiveAmount currencyID="EUR">129.58<')
    assert any(rule.startswith("BR-CO-15") for rule in fatal_rules(xml)), fatal_rules(xml)
    cii_xml = xml_of(app, mixed, "xrechnung-cii").replace(b"<ram:CountryID>DE</ram:CountryID>", b"", 1)
    assert any(rule.startswith("BR-09") for rule in fatal_rules(cii_xml)), fatal_rules(cii_xml)


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_a_credit_note_refers_to_its_invoice(app, mixed, buyer, fmt):
    note = credit_note_for(mixed, [("Rosen, welk", "4", "2.50", "19"), ("Beratung", "0.5", "40.00", "0")])
    xml = xml_of(app, note, fmt)
    assert_valid(xml)
    parsed = read(xml)
    assert parsed.type_code == "381" and parsed.is_credit_note
    assert parsed.preceding_number == mixed.number
    assert parsed.declared_totals == (Decimal("30.00"), Decimal("1.90"), Decimal("31.90"))
    assert parsed.amount_due == Decimal("31.90")
    if fmt == "xrechnung-ubl":
        assert etree.fromstring(xml).tag == "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_a_partially_paid_invoice_asks_for_what_is_outstanding(app, mixed, fmt):
    with app.app_context():
        factories.write_directly(update(Document).where(Document.id == mixed.id).values(
            amount_paid=Decimal("50.00"), amount_written_off=Decimal("0.57"), status=DocumentStatus.partially_paid))
        db.session.commit()
    xml = xml_of(app, mixed, fmt)
    assert_valid(xml)
    parsed = read(xml)
    assert parsed.prepaid == Decimal("50.57")
    assert parsed.amount_due == Decimal("79.00")


def test_factur_x_pdf_carries_cii_that_passes_the_rules(app, mixed):
    require_pdf(app)
    with app.app_context():
        rendered = einvoice.render(db.session.get(Document, mixed.id), "facturx")
    assert rendered.mimetype == "application/pdf" and rendered.filename == f"invoice-{mixed.number}.pdf"
    assert rendered.content.startswith(b"%PDF")
    xml = embedded_xml(rendered.content)
    assert_valid(xml)
    parsed = read(xml)
    assert parsed.specification == "urn:cen.eu:en16931:2017"  # Factur-X's EN 16931 profile
    assert parsed.buyer.name == "Bäckerei Weiß KG" and parsed.declared_totals[2] == Decimal("129.57")
    # The factur-x library reads it back the same (and checks it against Factur-X's schema).
    from facturx import get_xml_from_pdf

    filename, library_xml = get_xml_from_pdf(rendered.content, check_xsd=True)
    assert filename == "factur-x.xml" and library_xml == xml
    # PDF/A-3: WeasyPrint's PDF/A-3b with the Factur-X XMP metadata.
    assert _xmp_says_pdfa(rendered.content)


def _xmp_says_pdfa(pdf: bytes) -> bool:
    import io

    from pypdf import PdfReader

    metadata = PdfReader(io.BytesIO(pdf)).xmp_metadata
    data = metadata.stream.get_data() if metadata is not None else b""
    return b"pdfaid:part" in data and b"urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in data


def test_factur_x_of_a_credit_note_and_of_a_reverse_charge_invoice(app, mixed, eu_buyer):
    require_pdf(app)
    note = credit_note_for(mixed, [("Rosen, welk", "1", "2.50", "19")])
    reverse = make_document(eu_buyer, [("Saatgut", "10", "12.00", "0")])
    for document in (note, reverse):
        with app.app_context():
            pdf = einvoice.render(db.session.get(Document, document.id), "facturx").content
        assert_valid(embedded_xml(pdf))


def test_drafts_other_kinds_and_a_seller_without_tax_ids_make_no_e_invoice(app, seller, buyer):
    draft = factories.document(buyer, "invoice", draft=True)
    quote = factories.document(buyer, "quote")
    invoice = factories.document(buyer, "invoice")
    with app.app_context():
        for document in (draft, quote):
            with pytest.raises(DomainError):
                einvoice.xml_of(db.session.get(Document, document.id), "xrechnung-ubl")
    save_settings(app, vat_id=None, tax_number=None)
    with app.app_context(), pytest.raises(DomainError, match="VAT id"):
        einvoice.xml_of(db.session.get(Document, invoice.id), "xrechnung-ubl")
    # A tax number alone is enough for standard-rated lines (BR-S-02).
    save_settings(app, tax_number="27/123/45678")
    assert_valid(xml_of(app, invoice, "xrechnung-cii"))
    assert_valid(xml_of(app, invoice, "xrechnung-ubl"))


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_a_discount_line_at_a_negative_price_passes_the_rules(app, seller, buyer, fmt):
    """A package's discount line (quantity 1, price -10.00) gave BR-27, "the item net price
    shall not be negative": the e-invoice says quantity -1 at 10.00, the same line amount."""
    document = make_document(buyer, [("Rosen", "4", "25.00", "19"), ("Rabatt", "1", "-10.00", "19")])
    xml = xml_of(app, document, fmt)
    assert_valid(xml)
    lines = read(xml).lines
    assert [(line.quantity, line.unit_price, line.net_amount) for line in lines] == [
        (Decimal("4"), Decimal("25.00"), Decimal("100.00")), (Decimal("-1"), Decimal("10.00"), Decimal("-10.00"))]


@pytest.mark.parametrize("fmt", (*XML_FORMATS, "facturx"))
def test_control_characters_in_texts_are_left_out_of_the_xml(app, seller, buyer, fmt):
    """XML 1.0 cannot carry most control characters; lxml refused them, a 500 for the download
    and an e-mail without its e-invoice."""
    if fmt == "facturx":
        require_pdf(app)
    document = make_document(buyer, [("Rosen\x01 rot\x0b", "1", "25.00", "19")], notes="Danke\x1f!\tBis bald")
    with app.app_context():
        content = einvoice.render(db.session.get(Document, document.id), fmt).content
    xml = embedded_xml(content) if fmt == "facturx" else content
    assert_valid(xml)
    parsed = read(xml)
    assert parsed.lines[0].description == "Rosen rot" and parsed.note == "Danke!\tBis bald"


def test_a_document_with_only_totals_is_no_e_invoice(app, seller, buyer):
    """EN 16931 needs the lines (BR-16): a document the package sent with its totals only made
    an XML that broke the rules, and a Factur-X PDF that was a 500."""
    from models.services import intake

    with app.app_context():
        document, _ = intake.upsert_document({
            "kind": "invoice", "number": "T-1", "customer_number": "K-1001", "issue_date": "2026-11-02",
            "due_date": "2026-11-30", "totals": {"net": "100.00", "tax": "19.00", "gross": "119.00"}},
            actor_label="test")
        db.session.commit()
        for fmt in einvoice.FORMATS:
            with pytest.raises(DomainError, match="lines"):
                einvoice.render(document, fmt)
