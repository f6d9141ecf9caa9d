"""The e-invoice as EN 16931 sees it: a neutral model both syntaxes are written from (cii.py,
ubl.py) and read into (incoming.py), and how a Dossier document becomes one.

Amounts are Decimal throughout. The VAT breakdown is computed from the lines the same way
documents.compute_totals does (net per line to the cent, VAT per rate over the summed nets,
half up), which is also what rule BR-CO-17 checks, so the XML's totals are the document's.

VAT categories (BT-151/BT-118) follow from the rate and the two parties: a rate above zero
is standard (S); a 0 % line to a business with a VAT id in another EU country is an
intra-community reverse charge (AE, "Reverse charge"); 0 % to a buyer outside the EU is an
export (G); any other 0 % line is zero rated (Z).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l

from models.customers import Customer
from models.documents import Document, DocumentKind, DocumentStatus
from models.services import epc
from models.services.errors import DomainError
from models.settings import BusinessSettings

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
INVOICE, CREDIT_NOTE = "380", "381"  # UNTDID 1001 document type codes (BT-3)
SEPA_CREDIT_TRANSFER = "58"  # UNTDID 4461 (BT-81)
UNIT_ONE = "C62"  # UN/ECE Recommendation 20: "one" (BT-130)
EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
    "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
# The specification identifiers (BT-24): Factur-X's EN 16931 profile, and XRechnung 3.0.
EN16931 = "urn:cen.eu:en16931:2017"
XRECHNUNG = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
# Category code → (exemption reason code, text) where the rules ask for one (BR-AE-10, BR-G-10).
EXEMPTIONS = {
    "AE": ("VATEX-EU-AE", "Reverse charge"),
    "G": ("VATEX-EU-G", "Export outside the EU"),
}
EXPORTABLE_KINDS = (DocumentKind.invoice, DocumentKind.credit_note)


@dataclass
class Party:
    name: str
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str = "NL"
    vat_id: str | None = None
    tax_number: str | None = None  # BT-32, the seller's tax registration (not a VAT id)
    registration_number: str | None = None  # BT-30 / BT-47, the legal registration
    identifier: str | None = None  # BT-46 (buyer): the customer number
    email: str | None = None  # BT-34 / BT-49 electronic address, scheme EM
    contact_name: str | None = None


@dataclass
class Line:
    description: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    category: str = "S"
    net_amount: Decimal = ZERO

    def __post_init__(self) -> None:
        if not self.net_amount:
            self.net_amount = (self.quantity * self.unit_price).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class VatBreakdown:
    category: str
    rate: Decimal
    taxable: Decimal
    tax: Decimal

    @property
    def exemption(self) -> tuple[str, str] | None:
        return EXEMPTIONS.get(self.category)


@dataclass
class EInvoice:
    number: str
    type_code: str
    issue_date: date
    currency: str
    seller: Party
    buyer: Party
    lines: list[Line]
    due_date: date | None = None
    buyer_reference: str | None = None
    note: str | None = None
    preceding_number: str | None = None  # BT-25: a credit note's invoice
    preceding_date: date | None = None
    payment_reference: str | None = None  # BT-83
    iban: str | None = None
    bic: str | None = None
    account_holder: str | None = None
    payment_terms: str | None = None  # BT-20
    prepaid: Decimal = ZERO  # BT-113: paid, credited and written off so far
    specification: str = EN16931
    breakdown: list[VatBreakdown] = field(default_factory=list)
    # Read from a file: its net, VAT and gross totals as it states them.
    declared_totals: tuple[Decimal | None, Decimal | None, Decimal | None] | None = None

    def __post_init__(self) -> None:
        if not self.breakdown:
            self.breakdown = vat_breakdown(self.lines)

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == CREDIT_NOTE

    @property
    def line_total(self) -> Decimal:
        return sum((line.net_amount for line in self.lines), ZERO)

    @property
    def tax_total(self) -> Decimal:
        return sum((row.tax for row in self.breakdown), ZERO)

    @property
    def gross_total(self) -> Decimal:
        return self.line_total + self.tax_total

    @property
    def amount_due(self) -> Decimal:
        return self.gross_total - self.prepaid


def vat_breakdown(lines: list[Line]) -> list[VatBreakdown]:
    """One row per category and rate, VAT over the summed nets (BR-CO-17), in rate order."""
    taxable: dict[tuple[str, Decimal], Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        taxable[(line.category, line.vat_rate)] += line.net_amount
    return [
        VatBreakdown(category=category, rate=rate, taxable=amount,
                     tax=(amount * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP))
        for (category, rate), amount in sorted(taxable.items(), key=lambda item: (-item[0][1], item[0][0]))
    ]


def vat_category(rate: Decimal, seller_country: str, buyer: Customer) -> str:
    if rate > 0:
        return "S"
    buyer_country = (buyer.country or "").upper()
    if buyer_country and buyer_country not in EU_COUNTRIES:
        return "G"
    if buyer.vat_id and buyer_country != (seller_country or "").upper():
        return "AE"
    return "Z"


def seller_party(settings: BusinessSettings) -> Party:
    street = settings.street
    if not street and settings.address:  # the free-text address from before the fields
        street = settings.address.strip().splitlines()[0] if settings.address.strip() else None
    return Party(
        name=settings.business_name, street=street, postal_code=settings.postal_code, city=settings.city,
        country=(settings.country or "NL").upper(), vat_id=_compact(settings.vat_id),
        tax_number=(settings.tax_number or "").strip() or None,
        registration_number=(settings.registration_number or "").strip() or None,
        email=settings.sender_email or None, contact_name=settings.sender_name or settings.business_name,
    )


def buyer_party(customer: Customer) -> Party:
    return Party(
        name=customer.display_name, street=customer.street, postal_code=customer.postal_code, city=customer.city,
        country=(customer.country or "NL").upper(), vat_id=_compact(customer.vat_id), identifier=customer.number,
        email=customer.email or None,
        contact_name=customer.name if customer.is_company and customer.name != customer.display_name else None,
    )


def _compact(vat_id: str | None) -> str | None:
    """A VAT id as the rules compare it: no spaces, dots or dashes, upper case."""
    if not vat_id:
        return None
    return "".join(c for c in vat_id.upper() if c.isalnum()) or None


def check_exportable(document: Document, settings: BusinessSettings) -> None:
    """An e-invoice is made of an issued invoice or credit note of a seller who says who they
    are; otherwise a DomainError saying what is missing."""
    if document.kind not in EXPORTABLE_KINDS:
        raise DomainError(_l("Only invoices and credit notes are issued as e-invoices."))
    if document.status == DocumentStatus.draft or not document.number:
        raise DomainError(_l("A draft is not an e-invoice yet: issue it first."))
    if not document.lines:
        raise DomainError(_l("This document has only its totals: an e-invoice lists its lines."))
    if not (settings.vat_id or settings.tax_number):
        raise DomainError(_l("E-invoices need the business's VAT id or tax number: enter it in the settings."))
    if any(line.vat_rate == 0 for line in document.lines) and not settings.vat_id:
        raise DomainError(_l("E-invoices with lines at zero VAT need the business's VAT id: enter it in the settings."))


def from_document(document: Document, settings: BusinessSettings, *, specification: str = EN16931) -> EInvoice:
    """The e-invoice of an issued invoice or credit note (check_exportable first). What is
    due is what is outstanding: payments, credit notes and write-offs count as prepaid."""
    check_exportable(document, settings)
    customer = document.customer
    seller = seller_party(settings)
    # A price is never negative in an e-invoice (BR-27): a discount line at -10.00 is -1 × 10.00.
    lines = [
        Line(description=line.description,
             quantity=-line.quantity if line.unit_price < 0 else line.quantity, unit_price=abs(line.unit_price),
             vat_rate=line.vat_rate, category=vat_category(line.vat_rate, seller.country, customer),
             net_amount=line.net_amount)
        for line in document.lines
    ]
    credit_note = document.kind == DocumentKind.credit_note
    invoice = document.related if credit_note and document.related_id is not None else None
    einvoice = EInvoice(
        number=document.number,
        type_code=CREDIT_NOTE if credit_note else INVOICE,
        issue_date=document.issue_date,
        currency=document.currency,
        seller=seller,
        buyer=buyer_party(customer),
        lines=lines,
        due_date=None if credit_note else document.due_date,
        buyer_reference=customer.buyer_reference or customer.number,
        note=document.notes,
        preceding_number=invoice.number if invoice is not None else None,
        preceding_date=invoice.issue_date if invoice is not None else None,
        # BT-83, the remittance information: the RF creditor reference the PDF's EPC code carries
        # (bank statements are matched by it), else the number.
        payment_reference=None if credit_note else (epc.rf_reference(document.number) or document.number),
        iban=None if credit_note else _compact(settings.iban),
        bic=None if credit_note else (settings.bic or None),
        account_holder=settings.account_holder or settings.business_name,
        payment_terms=(f"Credit note for invoice {invoice.number}" if invoice is not None
                       else "Credit note") if credit_note else None,
        specification=specification,
    )
    if not credit_note:
        einvoice.prepaid = document.amount_paid + document.amount_credited + document.amount_written_off
    return einvoice


# What XML 1.0 cannot carry: the control characters other than tab, line feed and return.
_NOT_XML = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF])


def xml_text(text: str) -> str:
    """`text` without the characters XML cannot carry (a package may send them)."""
    return text.translate(_NOT_XML)


def fmt(value: Decimal, places: int | None = 2) -> str:
    """A decimal as the XML writes it: amounts with two places; quantities and rates without
    trailing zeros (never in exponent notation)."""
    if places is not None:
        return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
