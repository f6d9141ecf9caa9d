"""What goes in a printed letter about an invoice: the invoice letter and the reminder letter.

A letter is how a debtor without a (working) e-mail address reaches the online dossier,
so every letter carries the dossier link in full and as a QR code, and -- when no e-mail
address is known and the business wants it -- asks the debtor to leave one there.

This module decides the content (which letter may be printed, what it says, in which
language); turning it into HTML or PDF is the view's job. Like every service it never
sees the request: the view passes in how a token becomes a public URL.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass
from datetime import date
from typing import Callable

import segno
from babel import Locale
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from models.customers import Customer
from models.documents import UNPAID_STATUSES, Document, DocumentStatus
from models.services import audit, business_details, documents, dossier, dunning_schedule, epc, provided_email, reminders
from models.services.errors import DomainError
from models.services.settings import fill_placeholders, get_settings
from models.settings import BusinessSettings
from models.staff import StaffUser

LANGUAGES = ("nl", "de", "en")


class LetterKind(str, enum.Enum):
    invoice = "invoice"
    reminder = "reminder"


@dataclass(frozen=True)
class Letter:
    """Everything the letter template shows; built once, rendered as HTML or PDF."""

    kind: LetterKind
    invoice: Document
    customer: Customer
    business: BusinessSettings
    date: date
    language: str
    dossier_url: str
    qr_svg: Markup
    asks_for_email: bool
    logo_data_uri: str | None
    # The bank account, RF reference and EPC QR code to pay the (open) invoice with.
    payment: epc.PaymentCode | None = None
    # A reminder letter's opening: its level's letter text (the schedule's, or the standard
    # one of that level), placeholders filled in; None before any reminder was written.
    intro: str | None = None

    @property
    def is_reminder(self) -> bool:
        return self.kind is LetterKind.reminder

    @property
    def seller_address(self) -> list[str]:
        """The business's address on the letterhead: the legal one, else the free text."""
        return business_details.address_lines(self.business, self.language)

    @property
    def seller(self) -> list[tuple[str, str]]:
        """The business's legal details and bank account (the footer), in the letter's language."""
        return business_details.seller_lines(self.business, self.language)

    @property
    def address_lines(self) -> list[str]:
        """The window-envelope address, the country in capitals (as postal services ask
        for mail across borders)."""
        return postal_address(self.customer, self.language, country_in_capitals=True)

    @property
    def filename(self) -> str:
        """`<number>-<kind>.pdf`, reduced to characters every file system and header accepts."""
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in self.invoice.number)
        return f"{safe}-{self.kind.value}.pdf"


def parse_kind(value: str | None) -> LetterKind:
    """`?kind=` from the URL; missing means the invoice letter."""
    try:
        return LetterKind(value or LetterKind.invoice.value)
    except ValueError:
        raise DomainError(_l("Unknown kind of letter: choose the invoice letter or the reminder letter.")) from None


def check_printable(invoice: Document, kind: LetterKind) -> None:
    """A reminder only for an invoice that still has something to pay; nothing for a cancelled one."""
    if invoice.status is DocumentStatus.cancelled:
        raise DomainError(_l("This invoice is cancelled: no letter can be printed for it."))
    if invoice.status is DocumentStatus.draft:
        raise DomainError(_l("Issue the draft before printing a letter for it."))
    if kind is LetterKind.reminder and invoice.status not in UNPAID_STATUSES:
        raise DomainError(_l("This invoice is paid: a reminder letter is only for unpaid invoices."))


def asks_for_email(settings: BusinessSettings, customer: Customer, kind: LetterKind) -> bool:
    """Ask for an address exactly when the dossier page will offer the form for it.

    That is: the dossier wants an address (provided_email.is_wanted) and the setting for
    this kind of letter is on.
    """
    if not provided_email.is_wanted(customer):
        return False
    return settings.letter_reminder_asks_email if kind is LetterKind.reminder else settings.letter_invoice_asks_email


def qr_svg(url: str) -> Markup:
    """The URL as an inline SVG QR code: no image request (CSP `img-src` is moot), scales
    crisply in print, and WeasyPrint renders it without fetching anything.

    Error level M with a 4-module quiet zone: survives a fold or a smudge on paper.
    The path uses presentation attributes only (no `style`), so the CSP's
    `style-src 'self'` does not block it. The template gives it its (translated) accessible name.
    """
    code = segno.make(url, error="m", micro=False)
    return Markup(code.svg_inline(scale=1, border=4, omitsize=True, svgclass="qr-code", lineclass=None))


def postal_address(customer: Customer, language: str, *, country_in_capitals: bool = False) -> list[str]:
    """The recipient on a letter or document: name, attention line for a company, street,
    postal code and city, and the country spelt out in `language`."""
    lines = [customer.display_name]
    if customer.is_company and customer.name and customer.name != customer.display_name:
        lines.append(customer.name)
    lines.append(customer.street or "")
    lines.append(" ".join(part for part in (customer.postal_code, customer.city) if part))
    if customer.country:
        country = Locale.parse(language).territories.get(customer.country.upper(), customer.country)
        lines.append(country.upper() if country_in_capitals else country)
    return [line for line in lines if line.strip()]


def logo_data_uri(settings: BusinessSettings) -> str | None:
    """The logo inline, so neither the browser nor WeasyPrint requests anything for it."""
    if not settings.logo or not settings.logo_content_type:
        return None
    return f"data:{settings.logo_content_type};base64,{base64.b64encode(settings.logo).decode()}"


def letter_language(customer: Customer) -> str:
    return customer.language if customer.language in LANGUAGES else "en"


def build_letter(
    invoice: Document,
    kind: LetterKind,
    *,
    link_url: Callable[[str], str],
    today: date,
) -> Letter:
    """The letter for an invoice the actor may see (the caller got it through get_invoice).

    Creates the customer's dossier link if there is none yet (the caller commits), as every
    first look at it does. Opening a letter records nothing else: record_printed does.
    """
    check_printable(invoice, kind)
    customer = invoice.customer
    settings = get_settings()
    url = link_url(dossier.current_token(customer))
    return Letter(
        kind=kind,
        invoice=invoice,
        customer=customer,
        business=settings,
        date=today,
        language=letter_language(customer),
        dossier_url=url,
        qr_svg=qr_svg(url),
        asks_for_email=asks_for_email(settings, customer, kind),
        logo_data_uri=logo_data_uri(settings),
        payment=epc.payment_code(invoice, settings),
        intro=_reminder_intro(invoice, customer, url) if kind is LetterKind.reminder else None,
    )


def _reminder_intro(invoice: Document, customer: Customer, url: str) -> str | None:
    """The letter text of the highest level the invoice was reminded at, in the customer's
    language (the caller renders the letter in it)."""
    level = reminders.highest_level([invoice.id])
    if not level:
        return None
    language = letter_language(customer)
    schedule = dunning_schedule.levels()[min(level, max(dunning_schedule.DEFAULT_TEXTS))]
    with force_locale(language):
        text = dunning_schedule.text_for(schedule, "letter", language)
    parts = fill_placeholders(text, {"customer_name": customer.display_name, "document_number": invoice.number or "",
                                     "document_url": url, "dossier_url": url})
    return "".join(part for part, _link in parts)


def record_printed(actor: StaffUser, invoice: Document, kind: LetterKind) -> None:
    """Staff say they printed this letter: a debtor who says "I never got a letter" can be
    answered from the audit trail. Only a letter that may be printed can be recorded."""
    check_printable(invoice, kind)
    documents.mark_sent(invoice)
    audit.record(actor, "letter.printed", "document", invoice.id, customer_id=invoice.customer_id,
                 changes={"kind": [None, kind.value]})
