"""A document of any kind as the customer reads it: the print view and the PDF.

One template (templates/documents/document.html) is the document; staff open it as a print
view (/admin/documents/<id>/print) and as a PDF, customers see it on the document's page
in their dossier and download it as a PDF when the settings allow. It is written in the
document's language (the customer's when the document has none), with the business's
name, address and logo.

`build_sheet` loads everything the template shows (lines, the invoices of a reminder, the
document a credit note or order confirmation refers to), so rendering runs no queries.
The PDF is made as the letters' is (models.services.pdf): without WeasyPrint's system
libraries (Pango) the app runs and only the PDF answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from flask import render_template
from flask_babel import force_locale
from markupsafe import Markup
from sqlalchemy import select

from models.customers import Customer
from models.db import db
from models.documents import (
    KIND_NAMES,
    RECEIVABLE_KINDS,
    REMINDER_LEVEL_NAMES,
    Document,
    DocumentKind,
    DocumentStatus,
    ReminderItem,
)
from models.services import business_details, epc, reminders
from models.services.letters import LANGUAGES, logo_data_uri, postal_address
from models.services.pdf import html_to_pdf
from models.services.settings import get_settings
from models.settings import BusinessSettings

STYLESHEETS = ("css/document.css",)
TEMPLATE = "documents/document.html"


def title_of(document: Document) -> str:
    """The heading, in the document's language: "Invoice", "Quote", …; a reminder by its
    level ("2nd reminder", "Final notice")."""
    if document.kind == DocumentKind.reminder and document.reminder_level in REMINDER_LEVEL_NAMES:
        return REMINDER_LEVEL_NAMES[document.reminder_level]
    return KIND_NAMES[document.kind]


def language_of(document: Document, customer: Customer) -> str:
    """The document's language, else the customer's, else English."""
    for language in (document.language, customer.language):
        if language in LANGUAGES:
            return language
    return "en"


@dataclass(frozen=True)
class Sheet:
    """Everything the document template shows; built once, rendered as HTML or PDF."""

    document: Document
    customer: Customer
    business: BusinessSettings
    language: str
    logo_data_uri: str | None
    # Reminders: the invoices they ask for, with what was outstanding on each that day.
    reminder_items: list[ReminderItem] = field(default_factory=list)
    reminded: dict[int, Document] = field(default_factory=dict)  # their invoices by id
    # A credit note's invoice; an order confirmation's or invoice's quote.
    related: Document | None = None
    # An open invoice: the bank account, RF reference and EPC QR code to pay it with.
    payment: epc.PaymentCode | None = None

    @property
    def kind(self) -> str:
        return self.document.kind.value

    @property
    def title(self) -> str:
        return title_of(self.document)

    @property
    def is_draft(self) -> bool:
        return self.document.status == DocumentStatus.draft

    @property
    def shows_prices(self) -> bool:
        """A delivery note lists what was delivered: descriptions and quantities only."""
        return self.document.kind != DocumentKind.delivery_note

    @property
    def shows_lines(self) -> bool:
        return bool(self.document.lines)

    @property
    def asks_payment(self) -> bool:
        """Invoices and reminders say what is due; an order confirmation or quote does not."""
        return self.document.kind in RECEIVABLE_KINDS

    @property
    def shows_balance(self) -> bool:
        """An issued invoice shows what was paid, credited and written off, and what is left."""
        return self.document.kind == DocumentKind.invoice and not self.is_draft

    @property
    def reminded_total(self) -> Decimal:
        """What was outstanding on a reminder's invoices when it was written."""
        return sum((item.outstanding for item in self.reminder_items), Decimal("0.00"))

    @property
    def total_due(self) -> Decimal:
        """A reminder: the invoices' outstanding amounts plus its fee and interest."""
        return self.reminded_total + self.document.gross_total

    @property
    def seller_address(self) -> list[str]:
        """The business's address on the letterhead: the legal one, else the free text."""
        return business_details.address_lines(self.business, self.language)

    @property
    def seller(self) -> list[tuple[str, str]]:
        """The business's legal details and bank account (the footer), in the document's language."""
        return business_details.seller_lines(self.business, self.language)

    @property
    def address_lines(self) -> list[str]:
        """The customer's name and postal address (the country in the document's language)."""
        return postal_address(self.customer, self.language)

    @property
    def filename(self) -> str:
        """`<kind>-<number>.pdf` (a draft: `invoice-draft-<id>.pdf`), in characters every file
        system and header accepts."""
        number = self.document.number or f"draft-{self.document.id}"
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in number)
        return f"{self.kind.replace('_', '-')}-{safe}.pdf"


def build_sheet(document: Document, settings: BusinessSettings | None = None,
                customer: Customer | None = None) -> Sheet:
    """The sheet of a document the caller may show (staff: get_document; the dossier:
    released_document). Loads what the template shows, in a bounded number of queries."""
    settings = settings or get_settings()
    customer = customer or document.customer
    items: list[ReminderItem] = []
    reminded: dict[int, Document] = {}
    if document.kind == DocumentKind.reminder:
        items = reminders.items_of(document)
        if items:  # the invoices in one query
            reminded = {invoice.id: invoice for invoice in db.session.scalars(
                select(Document).where(Document.id.in_([item.invoice_id for item in items])))}
    related = document.related if document.related_id is not None else None
    document.lines  # noqa: B018 - loaded now, not while rendering
    return Sheet(
        document=document,
        customer=customer,
        business=settings,
        language=language_of(document, customer),
        logo_data_uri=logo_data_uri(settings),
        reminder_items=items,
        reminded=reminded,
        related=related,
        payment=epc.payment_code(document, settings),
    )


# --- HTML and PDF -----------------------------------------------------------------------


def render_body(sheet: Sheet) -> Markup:
    """The document itself, in its own language (whatever the reader's page speaks)."""
    with force_locale(sheet.language):
        return Markup(render_template(TEMPLATE, sheet=sheet))


def render_page(sheet: Sheet, *, toolbar: dict | None = None) -> str:
    """The whole HTML page. With `toolbar` it is staff's print view: the toolbar (links
    `back_url`, `pdf_url`) speaks the staff member's language and the page loads the
    stylesheet; without, it is what WeasyPrint gets, in the document's language through
    and through."""
    body = render_body(sheet)
    if toolbar is not None:
        return render_template("documents/page.html", sheet=sheet, body=body, stylesheets=STYLESHEETS,
                               toolbar=toolbar, toolbar_language=toolbar["language"])
    with force_locale(sheet.language):
        return render_template("documents/page.html", sheet=sheet, body=body, stylesheets=STYLESHEETS,
                               toolbar=None, toolbar_language=None)


def to_pdf(weasyprint, html: str, **options) -> bytes:
    """The page (render_page without a toolbar) as a PDF, nothing fetched (`options`: see
    pdf.html_to_pdf)."""
    return html_to_pdf(weasyprint, html, STYLESHEETS, **options)
