"""E-invoices in: a UBL, CII or Factur-X file from the business's own invoicing system becomes
a document in Dossier (staff upload at /admin/einvoices/upload).

1. `read(data)`: a Factur-X / ZUGFeRD PDF gives up its embedded XML; the XML is parsed
   without DTDs, entities or network; its syntax comes from the root element (CII or UBL
   Invoice / CreditNote); the official EN 16931 rules run on it. Not XML, an unknown syntax
   or any fatal rule: `Refused`, a DomainError carrying the rules (id and text).
2. `match_customer(invoice)`: the buyer is looked up by VAT id, then by customer number
   (BT-46, the buyer's identifier), then by e-mail address (BT-49, or the buyer contact's).
   None: staff are shown the buyer as a proposed new customer and confirm (`new_customer`).
3. `import_document(invoice, customer)`: through models.services.intake.upsert_document, the
   one door the REST API and the CSV import use, so its checks (numbers, totals, dates) hold
   and the same file twice changes nothing. The business must be the seller: a file whose
   seller VAT id is another's is refused (a supplier's invoice is no receivable).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from lxml import etree
from sqlalchemy import func, select

from models.customers import COUNTRY_CODES, Customer
from models.db import db
from models.documents import Document, DocumentKind
from models.services import intake
from models.services.access import visible
from models.services.einvoice import cii, ubl
from models.services.einvoice.invoice import EInvoice, _compact
from models.services.einvoice.validation import RuleFailure, RulesNotRun, fatal_failures, syntax_of
from models.services.errors import DomainError
from models.services.settings import get_settings
from models.staff import StaffUser

MAX_BYTES = 4 * 1024 * 1024  # the app's MAX_CONTENT_LENGTH
# UNTDID 1001 codes taken as an invoice: commercial, corrected, self-billed, prepayment, ...
INVOICE_TYPES = {"380", "383", "384", "386", "389", "751", "875", "876", "877"}
CREDIT_NOTE_TYPES = {"381", "261", "262", "296", "308", "396", "420", "458", "532"}
PDF_ATTACHMENTS = ["factur-x.xml", "zugferd-invoice.xml", "ZUGFeRD-invoice.xml", "xrechnung.xml"]
LANGUAGE_BY_COUNTRY = {"DE": "de", "AT": "de", "CH": "de", "NL": "nl", "BE": "nl"}


class Refused(DomainError):
    """The file is no valid EN 16931 e-invoice: the message says why, `failures` lists the
    rules that fired (empty when it never got as far as the rules)."""

    def __init__(self, message: str, failures: list[RuleFailure] | None = None, syntax: str | None = None):
        super().__init__(message, field="file")
        self.failures = failures or []
        self.syntax = syntax


@dataclass
class Reading:
    syntax: str  # "CII" or "UBL"
    from_pdf: bool
    xml: bytes  # UTF-8, as validated
    invoice: EInvoice
    warnings: list[RuleFailure] = field(default_factory=list)

    @property
    def kind(self) -> DocumentKind:
        return DocumentKind.credit_note if self.invoice.type_code in CREDIT_NOTE_TYPES else DocumentKind.invoice


def _xml_from_pdf(data: bytes) -> bytes:
    from facturx import get_xml_from_pdf

    try:
        _name, xml = get_xml_from_pdf(data, check_xsd=False, filenames=PDF_ATTACHMENTS)
    except Exception:  # noqa: BLE001 - any PDF the library cannot read is simply not one we take
        raise Refused(_l("This PDF cannot be read.")) from None
    if not xml:
        raise Refused(_l("This PDF carries no e-invoice: a Factur-X or ZUGFeRD PDF embeds factur-x.xml."))
    return xml


def _parse(xml: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(xml, parser)
    except (etree.XMLSyntaxError, ValueError):
        raise Refused(_l("This is not an XML file, nor a Factur-X PDF.")) from None
    if root is None or root.getroottree().docinfo.doctype:
        raise Refused(_l("XML with a document type declaration (DTD) is not accepted."))
    return root


def read(data: bytes) -> Reading:
    """The e-invoice in `data` (XML or a Factur-X PDF), validated; Refused otherwise."""
    if not data:
        raise Refused(_l("The file is empty."))
    if len(data) > MAX_BYTES:
        raise Refused(_l("The file is larger than 4 MB."))
    from_pdf = data.lstrip()[:5] == b"%PDF-"
    root = _parse(_xml_from_pdf(data) if from_pdf else data)
    syntax = syntax_of(root)
    if syntax is None:
        name = etree.QName(root).localname
        raise Refused(_l("Not a known e-invoice syntax: the file's root element is %(name)s; expected a UBL 2.1 "
                         "Invoice or CreditNote, or a UN/CEFACT CrossIndustryInvoice (CII, Factur-X, ZUGFeRD).",
                         name=name))
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    try:
        failures = fatal_failures(xml, syntax)
    except RulesNotRun:
        raise Refused(_l("The e-invoice cannot be checked against the EN 16931 rules: a value is not in the form "
                         "they expect (an amount or a date that is not one?)."), syntax=syntax) from None
    if failures:
        raise Refused(_l("The e-invoice breaks %(count)s of the EN 16931 rules.", count=len(failures)),
                      failures, syntax)
    try:
        invoice = cii.from_xml(root) if syntax == "CII" else ubl.from_xml(root)
    except (ValueError, AttributeError, TypeError):
        raise Refused(_l("The e-invoice passes the rules but holds values Dossier cannot read."), syntax=syntax) from None
    if invoice.type_code not in INVOICE_TYPES | CREDIT_NOTE_TYPES:
        raise Refused(_l("Document type %(code)s is neither an invoice nor a credit note.", code=invoice.type_code),
                      syntax=syntax)
    return Reading(syntax=syntax, from_pdf=from_pdf, xml=xml, invoice=invoice)


# --- the customer -------------------------------------------------------------------------


def _visible(stmt, staff: StaffUser | None):
    return stmt if staff is None else visible(stmt, staff)


def match_customer(invoice: EInvoice, staff: StaffUser | None) -> Customer | None:
    """The buyer among the customers `staff` may see (None: the API, which acts for the
    whole business): by VAT id, else customer number, else e-mail address (active
    customers before archived ones)."""
    buyer = invoice.buyer
    first = (Customer.archived_at.is_not(None), Customer.id)
    vat_id = _compact(buyer.vat_id)
    if vat_id:
        compact = func.upper(func.replace(func.replace(func.replace(Customer.vat_id, " ", ""), ".", ""), "-", ""))
        found = db.session.scalar(_visible(select(Customer).where(compact == vat_id), staff).order_by(*first).limit(1))
        if found is not None:
            return found
    if buyer.identifier:
        found = db.session.scalar(_visible(select(Customer).where(func.lower(Customer.number) == buyer.identifier.lower()),
                                          staff))
        if found is not None:
            return found
    email = (buyer.email or "").strip().lower()
    if email:
        return db.session.scalar(_visible(select(Customer).where(func.lower(Customer.email) == email), staff)
                                 .order_by(*first).limit(1))
    return None


def proposed_customer(invoice: EInvoice) -> dict:
    """The buyer as a new customer (intake.upsert_customer's shape): a company when it has a
    VAT id or registration, with its contact person's name, else a person."""
    buyer = invoice.buyer
    country = (buyer.country or "").upper()
    company = bool(buyer.vat_id or buyer.registration_number)
    values = {
        "kind": "company" if company else "individual",
        "name": (buyer.contact_name if company and buyer.contact_name else buyer.name)[:200],
        "street": buyer.street, "postal_code": buyer.postal_code, "city": buyer.city,
        "country": country if country in COUNTRY_CODES else None,
        "language": LANGUAGE_BY_COUNTRY.get(country, "en"),
        "vat_id": buyer.vat_id, "email": buyer.email,
    }
    if company:
        values["company_name"] = buyer.name[:200]
    if buyer.identifier and intake.NUMBER_PATTERN.match(buyer.identifier) and len(buyer.identifier) <= 30 \
            and db.session.scalar(select(Customer.id).where(func.lower(Customer.number) == buyer.identifier.lower())) is None:
        values["number"] = buyer.identifier
    return {key: value for key, value in values.items() if value not in (None, "")}


def new_customer(invoice: EInvoice, staff: StaffUser | None, *, actor_label: str) -> Customer:
    """The proposed customer, created (after staff confirmed it); an employee who creates
    it is assigned to it, as on the customer form."""
    values = proposed_customer(invoice)
    if "country" not in values:
        raise DomainError(_l("The buyer's country %(country)s is not one Dossier keeps customers in.",
                             country=invoice.buyer.country or "—"), field="file")
    with _named_fields("customer"):
        customer, _state = intake.upsert_customer(values, actor_label=actor_label)
    if staff is not None and not staff.is_manager and staff not in customer.assigned_staff:
        customer.assigned_staff.append(staff)
        db.session.flush()
    return customer


@contextmanager
def _named_fields(what: str):
    """intake's errors name their field (lines[2].unit_price); the upload has one field, the
    file, so the name goes into the message."""
    try:
        yield
    except DomainError as error:
        if error.field in (None, "file"):
            raise
        raise DomainError(_l("The e-invoice's %(what)s, %(field)s: %(message)s", what=what, field=error.field,
                             message=str(error.message)), field="file") from None


# --- the document -------------------------------------------------------------------------


def _check_seller(invoice: EInvoice) -> None:
    ours = _compact(get_settings().vat_id)
    theirs = _compact(invoice.seller.vat_id)
    if ours and theirs and ours != theirs:
        raise DomainError(_l("This e-invoice was issued by %(seller)s (VAT id %(vat_id)s), not by this business: only "
                             "the business's own invoices are imported.", seller=invoice.seller.name, vat_id=theirs),
                          field="file")


MAX_NUMBER = 40  # a document number's longest (intake)


def document_values(reading: Reading, customer: Customer) -> dict:
    """The document as intake.upsert_document takes it."""
    invoice = reading.invoice
    kind = reading.kind
    net, tax, gross = invoice.declared_totals or (None, None, None)
    if len(invoice.number) > MAX_NUMBER:  # cut, it could be another document's number
        raise DomainError(_l("The e-invoice's number %(number)s is too long: Dossier keeps at most %(n)s characters.",
                             number=invoice.number, n=MAX_NUMBER), field="file")
    values = {
        "kind": kind.value, "number": invoice.number, "customer_number": customer.number,
        "issue_date": invoice.issue_date, "currency": invoice.currency,
        # A discount line comes as -1 × 10.00 (BR-27: no negative price); Dossier's is 1 × -10.00.
        "lines": [{"description": (line.description or "—")[:300], "quantity": abs(line.quantity),
                   "unit_price": -line.unit_price if line.quantity < 0 else line.unit_price,
                   "vat_rate": line.vat_rate} for line in invoice.lines],
        "notes": invoice.note,
    }
    if None not in (net, tax, gross):
        values["totals"] = {"net": net, "tax": tax, "gross": gross}
    if kind == DocumentKind.invoice:
        values["due_date"] = invoice.due_date or invoice.issue_date
        if invoice.prepaid and invoice.prepaid > 0:
            values["amount_paid"] = invoice.prepaid
            values["status"] = "paid" if gross is not None and invoice.prepaid >= gross else "partially_paid"
    else:
        if not invoice.preceding_number:
            raise DomainError(_l("A credit note names the invoice it credits (BT-25); this one does not."),
                              field="file")
        values["related_number"] = invoice.preceding_number
    return values


def import_document(reading: Reading, customer: Customer, *, actor_label: str) -> tuple[Document, str]:
    """The document of `reading` for `customer`: created, or "unchanged" when the same file
    came before (intake.upsert_document by kind and number)."""
    _check_seller(reading.invoice)
    with _named_fields("document"):
        return intake.upsert_document(document_values(reading, customer), actor_label=actor_label)
