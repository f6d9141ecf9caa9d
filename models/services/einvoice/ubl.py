"""OASIS UBL 2.1 Invoice and CreditNote (XRechnung UBL, Peppol BIS Billing 3.0's syntax):
written from and read into the neutral model (invoice.py).

Elements appear in the order UBL's schema sequences demand.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from models.services.einvoice.invoice import (
    CREDIT_NOTE,
    SEPA_CREDIT_TRANSFER,
    UNIT_ONE,
    EInvoice,
    Line,
    Party,
    fmt,
    xml_text,
)

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NS = {"cac": CAC, "cbc": CBC}


def _el(parent, tag: str, text: str | None = None, **attributes) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", **attributes)
    if text is not None:
        element.text = xml_text(text)
    return element


def _party(parent, tag: str, party: Party, *, seller: bool) -> None:
    element = _el(_el(parent, tag), "cac:Party")
    if party.email:
        _el(element, "cbc:EndpointID", party.email, schemeID="EM")
    if not seller and party.identifier:
        _el(_el(element, "cac:PartyIdentification"), "cbc:ID", party.identifier)
    address = _el(element, "cac:PostalAddress")
    if party.street:
        _el(address, "cbc:StreetName", party.street)
    if party.city:
        _el(address, "cbc:CityName", party.city)
    if party.postal_code:
        _el(address, "cbc:PostalZone", party.postal_code)
    _el(_el(address, "cac:Country"), "cbc:IdentificationCode", party.country)
    if party.vat_id:
        scheme = _el(element, "cac:PartyTaxScheme")
        _el(scheme, "cbc:CompanyID", party.vat_id)
        _el(_el(scheme, "cac:TaxScheme"), "cbc:ID", "VAT")
    if seller and party.tax_number:
        scheme = _el(element, "cac:PartyTaxScheme")
        _el(scheme, "cbc:CompanyID", party.tax_number)
        _el(_el(scheme, "cac:TaxScheme"), "cbc:ID", "FC")
    legal = _el(element, "cac:PartyLegalEntity")
    _el(legal, "cbc:RegistrationName", party.name)
    if party.registration_number:
        _el(legal, "cbc:CompanyID", party.registration_number)
    if party.contact_name or (seller and party.email):
        contact = _el(element, "cac:Contact")
        if party.contact_name:
            _el(contact, "cbc:Name", party.contact_name)
        if seller and party.email:
            _el(contact, "cbc:ElectronicMail", party.email)


def _tax_category(parent, tag: str, category: str, rate: Decimal, exemption: tuple[str, str] | None = None) -> None:
    element = _el(parent, tag)
    _el(element, "cbc:ID", category)
    _el(element, "cbc:Percent", fmt(rate, None))
    if exemption:
        _el(element, "cbc:TaxExemptionReasonCode", exemption[0])
        _el(element, "cbc:TaxExemptionReason", exemption[1])
    _el(_el(element, "cac:TaxScheme"), "cbc:ID", "VAT")


def _line(parent, position: int, line: Line, currency: str, credit_note: bool) -> None:
    element = _el(parent, "cac:CreditNoteLine" if credit_note else "cac:InvoiceLine")
    _el(element, "cbc:ID", str(position))
    _el(element, "cbc:CreditedQuantity" if credit_note else "cbc:InvoicedQuantity", fmt(line.quantity, None),
        unitCode=UNIT_ONE)
    _el(element, "cbc:LineExtensionAmount", fmt(line.net_amount), currencyID=currency)
    item = _el(element, "cac:Item")
    _el(item, "cbc:Name", line.description)
    _tax_category(item, "cac:ClassifiedTaxCategory", line.category, line.vat_rate)
    _el(_el(element, "cac:Price"), "cbc:PriceAmount", fmt(line.unit_price, None), currencyID=currency)


def to_xml(invoice: EInvoice) -> bytes:
    """The UBL XML (an Invoice, or a CreditNote for type 381), UTF-8 with a declaration."""
    credit_note = invoice.is_credit_note
    currency = invoice.currency
    root = etree.Element(f"{{{CREDIT_NOTE_NS if credit_note else INVOICE_NS}}}{'CreditNote' if credit_note else 'Invoice'}",
                         nsmap={None: CREDIT_NOTE_NS if credit_note else INVOICE_NS, **NS})
    _el(root, "cbc:CustomizationID", invoice.specification)
    _el(root, "cbc:ID", invoice.number)
    _el(root, "cbc:IssueDate", invoice.issue_date.isoformat())
    if invoice.due_date and not credit_note:
        _el(root, "cbc:DueDate", invoice.due_date.isoformat())
    _el(root, "cbc:CreditNoteTypeCode" if credit_note else "cbc:InvoiceTypeCode", invoice.type_code)
    if invoice.note:
        _el(root, "cbc:Note", invoice.note)
    _el(root, "cbc:DocumentCurrencyCode", currency)
    if invoice.buyer_reference:
        _el(root, "cbc:BuyerReference", invoice.buyer_reference)
    if invoice.preceding_number:
        reference = _el(_el(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
        _el(reference, "cbc:ID", invoice.preceding_number)
        if invoice.preceding_date:
            _el(reference, "cbc:IssueDate", invoice.preceding_date.isoformat())
    _party(root, "cac:AccountingSupplierParty", invoice.seller, seller=True)
    _party(root, "cac:AccountingCustomerParty", invoice.buyer, seller=False)
    if invoice.iban:
        means = _el(root, "cac:PaymentMeans")
        _el(means, "cbc:PaymentMeansCode", SEPA_CREDIT_TRANSFER)
        if invoice.payment_reference:
            _el(means, "cbc:PaymentID", invoice.payment_reference)
        account = _el(means, "cac:PayeeFinancialAccount")
        _el(account, "cbc:ID", invoice.iban)
        if invoice.account_holder:
            _el(account, "cbc:Name", invoice.account_holder)
        if invoice.bic:
            _el(_el(account, "cac:FinancialInstitutionBranch"), "cbc:ID", invoice.bic)
    if invoice.payment_terms:
        _el(_el(root, "cac:PaymentTerms"), "cbc:Note", invoice.payment_terms)
    tax_total = _el(root, "cac:TaxTotal")
    _el(tax_total, "cbc:TaxAmount", fmt(invoice.tax_total), currencyID=currency)
    for row in invoice.breakdown:
        subtotal = _el(tax_total, "cac:TaxSubtotal")
        _el(subtotal, "cbc:TaxableAmount", fmt(row.taxable), currencyID=currency)
        _el(subtotal, "cbc:TaxAmount", fmt(row.tax), currencyID=currency)
        _tax_category(subtotal, "cac:TaxCategory", row.category, row.rate, row.exemption)
    sums = _el(root, "cac:LegalMonetaryTotal")
    _el(sums, "cbc:LineExtensionAmount", fmt(invoice.line_total), currencyID=currency)
    _el(sums, "cbc:TaxExclusiveAmount", fmt(invoice.line_total), currencyID=currency)
    _el(sums, "cbc:TaxInclusiveAmount", fmt(invoice.gross_total), currencyID=currency)
    _el(sums, "cbc:PrepaidAmount", fmt(invoice.prepaid), currencyID=currency)
    _el(sums, "cbc:PayableAmount", fmt(invoice.amount_due), currencyID=currency)
    for position, line in enumerate(invoice.lines, start=1):
        _line(root, position, line, currency, credit_note)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --- reading ------------------------------------------------------------------------------


def _text(element, path: str) -> str | None:
    found = element.find(path, NS) if element is not None else None
    text = found.text.strip() if found is not None and found.text else None
    return text or None


def _decimal(element, path: str, default: Decimal | None = None) -> Decimal | None:
    text = _text(element, path)
    if text is None:
        return default
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{path}: not a number: {text!r}") from None


def _read_date(element, path: str) -> date | None:
    text = _text(element, path)
    return date.fromisoformat(text) if text else None


def _read_party(element) -> Party:
    party = element.find("cac:Party", NS) if element is not None else None
    schemes = {}
    if party is not None:
        for scheme in party.iterfind("cac:PartyTaxScheme", NS):
            schemes[_text(scheme, "cac:TaxScheme/cbc:ID")] = _text(scheme, "cbc:CompanyID")
    return Party(
        name=_text(party, "cac:PartyLegalEntity/cbc:RegistrationName") or _text(party, "cac:PartyName/cbc:Name") or "",
        street=_text(party, "cac:PostalAddress/cbc:StreetName"),
        postal_code=_text(party, "cac:PostalAddress/cbc:PostalZone"),
        city=_text(party, "cac:PostalAddress/cbc:CityName"),
        country=_text(party, "cac:PostalAddress/cac:Country/cbc:IdentificationCode") or "",
        vat_id=schemes.get("VAT"),
        tax_number=schemes.get("FC"),
        registration_number=_text(party, "cac:PartyLegalEntity/cbc:CompanyID"),
        identifier=_text(party, "cac:PartyIdentification/cbc:ID"),
        email=_text(party, "cbc:EndpointID") if party is not None and party.find("cbc:EndpointID", NS) is not None
        and party.find("cbc:EndpointID", NS).get("schemeID") == "EM" else _text(party, "cac:Contact/cbc:ElectronicMail"),
        contact_name=_text(party, "cac:Contact/cbc:Name"),
    )


def from_xml(root: etree._Element) -> EInvoice:
    """The neutral model of a UBL invoice or credit note that passed the rules."""
    credit_note = root.tag == f"{{{CREDIT_NOTE_NS}}}CreditNote"
    lines = []
    for element in root.iterfind("cac:CreditNoteLine" if credit_note else "cac:InvoiceLine", NS):
        quantity = _decimal(element, "cbc:CreditedQuantity" if credit_note else "cbc:InvoicedQuantity", Decimal("1"))
        price = _decimal(element, "cac:Price/cbc:PriceAmount")
        base = _decimal(element, "cac:Price/cbc:BaseQuantity", Decimal("1"))
        lines.append(Line(
            description=_text(element, "cac:Item/cbc:Name") or "",
            quantity=quantity, unit_price=price / base if base else price,
            vat_rate=_decimal(element, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", Decimal("0")),
            category=_text(element, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID") or "S",
            net_amount=_decimal(element, "cbc:LineExtensionAmount"),
        ))
    sums = root.find("cac:LegalMonetaryTotal", NS)
    invoice = EInvoice(
        number=_text(root, "cbc:ID") or "",
        type_code=_text(root, "cbc:CreditNoteTypeCode" if credit_note else "cbc:InvoiceTypeCode")
        or (CREDIT_NOTE if credit_note else ""),
        issue_date=_read_date(root, "cbc:IssueDate"),
        currency=_text(root, "cbc:DocumentCurrencyCode") or "",
        seller=_read_party(root.find("cac:AccountingSupplierParty", NS)),
        buyer=_read_party(root.find("cac:AccountingCustomerParty", NS)),
        lines=lines,
        due_date=_read_date(root, "cbc:DueDate") or _read_date(root, "cac:PaymentMeans/cbc:PaymentDueDate"),
        buyer_reference=_text(root, "cbc:BuyerReference"),
        note=_text(root, "cbc:Note"),
        preceding_number=_text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"),
        payment_reference=_text(root, "cac:PaymentMeans/cbc:PaymentID"),
        iban=_text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID"),
        prepaid=_decimal(sums, "cbc:PrepaidAmount", Decimal("0.00")),
        specification=_text(root, "cbc:CustomizationID") or "",
    )
    invoice.declared_totals = (_decimal(sums, "cbc:TaxExclusiveAmount"), _decimal(root, "cac:TaxTotal/cbc:TaxAmount"),
                               _decimal(sums, "cbc:TaxInclusiveAmount"))
    return invoice
