"""UN/CEFACT Cross Industry Invoice (D16B), EN 16931 profile: written from and read into the
neutral model (invoice.py). The XML inside a Factur-X / ZUGFeRD PDF, and XRechnung's CII.

Elements appear in the order the schema's sequences demand (Factur-X's XSD checks it).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from models.services.einvoice.invoice import (
    SEPA_CREDIT_TRANSFER,
    UNIT_ONE,
    EInvoice,
    Line,
    Party,
    fmt,
    xml_text,
)

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NS = {"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT}


def _el(parent, tag: str, text: str | None = None, **attributes) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", **attributes)
    if text is not None:
        element.text = xml_text(text)
    return element


def _date(parent, tag: str, value: date, *, qualified: bool = False) -> None:
    _el(_el(parent, tag), "qdt:DateTimeString" if qualified else "udt:DateTimeString",
        value.strftime("%Y%m%d"), format="102")


def _party(parent, tag: str, party: Party, *, seller: bool) -> None:
    element = _el(parent, tag)
    if not seller and party.identifier:
        _el(element, "ram:ID", party.identifier)
    _el(element, "ram:Name", party.name)
    if party.registration_number:
        _el(_el(element, "ram:SpecifiedLegalOrganization"), "ram:ID", party.registration_number)
    if party.contact_name or (seller and party.email):
        contact = _el(element, "ram:DefinedTradeContact")
        if party.contact_name:
            _el(contact, "ram:PersonName", party.contact_name)
        if seller and party.email:
            _el(_el(contact, "ram:EmailURIUniversalCommunication"), "ram:URIID", party.email)
    address = _el(element, "ram:PostalTradeAddress")
    if party.postal_code:
        _el(address, "ram:PostcodeCode", party.postal_code)
    if party.street:
        _el(address, "ram:LineOne", party.street)
    if party.city:
        _el(address, "ram:CityName", party.city)
    _el(address, "ram:CountryID", party.country)
    if party.email:
        _el(_el(element, "ram:URIUniversalCommunication"), "ram:URIID", party.email, schemeID="EM")
    if party.vat_id:
        _el(_el(element, "ram:SpecifiedTaxRegistration"), "ram:ID", party.vat_id, schemeID="VA")
    if seller and party.tax_number:
        _el(_el(element, "ram:SpecifiedTaxRegistration"), "ram:ID", party.tax_number, schemeID="FC")


def _line(parent, position: int, line: Line) -> None:
    item = _el(parent, "ram:IncludedSupplyChainTradeLineItem")
    _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(position))
    _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.description)
    agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
    _el(_el(agreement, "ram:NetPriceProductTradePrice"), "ram:ChargeAmount", fmt(line.unit_price, None))
    _el(_el(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", fmt(line.quantity, None),
        unitCode=UNIT_ONE)
    settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
    tax = _el(settlement, "ram:ApplicableTradeTax")
    _el(tax, "ram:TypeCode", "VAT")
    _el(tax, "ram:CategoryCode", line.category)
    _el(tax, "ram:RateApplicablePercent", fmt(line.vat_rate, None))
    _el(_el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"), "ram:LineTotalAmount",
        fmt(line.net_amount))


def to_xml(invoice: EInvoice) -> bytes:
    """The CII XML, UTF-8 with a declaration."""
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NS)
    _el(_el(_el(root, "rsm:ExchangedDocumentContext"), "ram:GuidelineSpecifiedDocumentContextParameter"),
        "ram:ID", invoice.specification)
    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", invoice.number)
    _el(header, "ram:TypeCode", invoice.type_code)
    _date(header, "ram:IssueDateTime", invoice.issue_date)
    if invoice.note:
        _el(_el(header, "ram:IncludedNote"), "ram:Content", invoice.note)

    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    for position, line in enumerate(invoice.lines, start=1):
        _line(transaction, position, line)

    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    if invoice.buyer_reference:
        _el(agreement, "ram:BuyerReference", invoice.buyer_reference)
    _party(agreement, "ram:SellerTradeParty", invoice.seller, seller=True)
    _party(agreement, "ram:BuyerTradeParty", invoice.buyer, seller=False)
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")

    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    if invoice.payment_reference:
        _el(settlement, "ram:PaymentReference", invoice.payment_reference)
    _el(settlement, "ram:InvoiceCurrencyCode", invoice.currency)
    if invoice.iban:
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", SEPA_CREDIT_TRANSFER)
        account = _el(means, "ram:PayeePartyCreditorFinancialAccount")
        _el(account, "ram:IBANID", invoice.iban)
        if invoice.account_holder:
            _el(account, "ram:AccountName", invoice.account_holder)
        if invoice.bic:
            _el(_el(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", invoice.bic)
    for row in invoice.breakdown:
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:CalculatedAmount", fmt(row.tax))
        _el(tax, "ram:TypeCode", "VAT")
        if row.exemption:
            _el(tax, "ram:ExemptionReason", row.exemption[1])
        _el(tax, "ram:BasisAmount", fmt(row.taxable))
        _el(tax, "ram:CategoryCode", row.category)
        if row.exemption:
            _el(tax, "ram:ExemptionReasonCode", row.exemption[0])
        _el(tax, "ram:RateApplicablePercent", fmt(row.rate, None))
    if invoice.payment_terms or invoice.due_date:
        terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
        if invoice.payment_terms:
            _el(terms, "ram:Description", invoice.payment_terms)
        if invoice.due_date:
            _date(terms, "ram:DueDateDateTime", invoice.due_date)
    sums = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(sums, "ram:LineTotalAmount", fmt(invoice.line_total))
    _el(sums, "ram:TaxBasisTotalAmount", fmt(invoice.line_total))
    _el(sums, "ram:TaxTotalAmount", fmt(invoice.tax_total), currencyID=invoice.currency)
    _el(sums, "ram:GrandTotalAmount", fmt(invoice.gross_total))
    _el(sums, "ram:TotalPrepaidAmount", fmt(invoice.prepaid))
    _el(sums, "ram:DuePayableAmount", fmt(invoice.amount_due))
    if invoice.preceding_number:
        reference = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(reference, "ram:IssuerAssignedID", invoice.preceding_number)
        if invoice.preceding_date:
            _date(reference, "ram:FormattedIssueDateTime", invoice.preceding_date, qualified=True)
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
    return datetime.strptime(text, "%Y%m%d").date() if text else None


def _read_party(element) -> Party:
    registrations = {reg.get("schemeID"): (reg.text or "").strip()
                     for reg in element.iterfind("ram:SpecifiedTaxRegistration/ram:ID", NS)} if element is not None else {}
    return Party(
        name=_text(element, "ram:Name") or "",
        street=_text(element, "ram:PostalTradeAddress/ram:LineOne"),
        postal_code=_text(element, "ram:PostalTradeAddress/ram:PostcodeCode"),
        city=_text(element, "ram:PostalTradeAddress/ram:CityName"),
        country=_text(element, "ram:PostalTradeAddress/ram:CountryID") or "",
        vat_id=registrations.get("VA") or None,
        tax_number=registrations.get("FC") or None,
        registration_number=_text(element, "ram:SpecifiedLegalOrganization/ram:ID"),
        identifier=_text(element, "ram:ID"),
        email=_text(element, "ram:URIUniversalCommunication/ram:URIID"),
        contact_name=_text(element, "ram:DefinedTradeContact/ram:PersonName"),
    )


def from_xml(root: etree._Element) -> EInvoice:
    """The neutral model of a CII invoice that passed the rules (ValueError if a value is
    not what the rules let through)."""
    transaction = root.find("rsm:SupplyChainTradeTransaction", NS)
    agreement = transaction.find("ram:ApplicableHeaderTradeAgreement", NS)
    settlement = transaction.find("ram:ApplicableHeaderTradeSettlement", NS)
    lines = []
    for item in transaction.iterfind("ram:IncludedSupplyChainTradeLineItem", NS):
        quantity = _decimal(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", Decimal("1"))
        net = _decimal(item, "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/"
                             "ram:LineTotalAmount")
        price = _decimal(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount")
        base = _decimal(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:BasisQuantity",
                        Decimal("1"))
        tax = item.find("ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax", NS)
        lines.append(Line(
            description=_text(item, "ram:SpecifiedTradeProduct/ram:Name") or "",
            quantity=quantity, unit_price=price / base if base else price,
            vat_rate=_decimal(tax, "ram:RateApplicablePercent", Decimal("0")),
            category=_text(tax, "ram:CategoryCode") or "S", net_amount=net,
        ))
    sums = settlement.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
    invoice = EInvoice(
        number=_text(root, "rsm:ExchangedDocument/ram:ID") or "",
        type_code=_text(root, "rsm:ExchangedDocument/ram:TypeCode") or "",
        issue_date=_read_date(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString"),
        currency=_text(settlement, "ram:InvoiceCurrencyCode") or "",
        seller=_read_party(agreement.find("ram:SellerTradeParty", NS)),
        buyer=_read_party(agreement.find("ram:BuyerTradeParty", NS)),
        lines=lines,
        due_date=_read_date(settlement, "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString"),
        buyer_reference=_text(agreement, "ram:BuyerReference"),
        note=_text(root, "rsm:ExchangedDocument/ram:IncludedNote/ram:Content"),
        preceding_number=_text(settlement, "ram:InvoiceReferencedDocument/ram:IssuerAssignedID"),
        payment_reference=_text(settlement, "ram:PaymentReference"),
        iban=_text(settlement, "ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/"
                               "ram:IBANID"),
        prepaid=_decimal(sums, "ram:TotalPrepaidAmount", Decimal("0.00")),
        specification=_text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/"
                                  "ram:ID") or "",
    )
    invoice.declared_totals = (  # what the file says, to compare with what its lines give
        _decimal(sums, "ram:TaxBasisTotalAmount"), _decimal(sums, "ram:TaxTotalAmount"),
        _decimal(sums, "ram:GrandTotalAmount"))
    return invoice
