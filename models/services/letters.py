"""What goes in a printed letter: the invoice letter and the reminder letter about an invoice,
and the reminder letter about an unpaid instalment of a payment arrangement (the automatic
reminder run lists it for a customer without an e-mail address).

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
from sqlalchemy import select

from models.customers import Customer
from models.db import db
from models.documents import UNPAID_STATUSES, Document, DocumentStatus
from models.dunning import DunningChannel, DunningNotice
from models.formatting import format_date
from models.instalments import Instalment, InstalmentPlan, PlanStatus
from models.services import (audit, business_details, documents, dossier, dunning, dunning_schedule, epc,
                             provided_email, reminders)
from models.services.errors import DomainError
from models.services.settings import fill_placeholders, get_settings
from models.settings import BusinessSettings
from models.staff import StaffUser

LANGUAGES = ("nl", "de", "en")


class LetterKind(str, enum.Enum):
    invoice = "invoice"
    reminder = "reminder"
    instalment = "instalment"  # the reminder of an unpaid instalment (no `?kind=` of an invoice's letter)


INVOICE_KINDS = (LetterKind.invoice, LetterKind.reminder)


@dataclass(frozen=True)
class Letter:
    """Everything the letter template shows; built once, rendered as HTML or PDF.

    An invoice's letters name the `invoice`; the instalment letter names the `instalment`
    and its `plan` (and no invoice). The rest -- letterhead, address, dossier link, the
    request for an e-mail address, the seller -- is the same on every letter."""

    kind: LetterKind
    invoice: Document | None
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
    instalment: Instalment | None = None
    plan: InstalmentPlan | None = None
    # The invoice number a transfer names when there is no RF reference (the payment block).
    payment_number: str | None = None

    @property
    def is_reminder(self) -> bool:
        return self.kind is LetterKind.reminder

    @property
    def is_instalment(self) -> bool:
        return self.kind is LetterKind.instalment

    @property
    def reminds(self) -> bool:
        """A reminder, of an invoice or of an instalment ("if you have already paid ...")."""
        return self.kind is not LetterKind.invoice

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
        """`<number>-<kind>.pdf` (an instalment: `<customer number>-instalment-<plan>-<n>.pdf`),
        reduced to characters every file system and header accepts."""
        if self.instalment is not None and self.plan is not None:
            name = f"{self.customer.number}-instalment-{self.plan.id}-{self.instalment.position}"
        else:
            name = f"{self.invoice.number}-{self.kind.value}"
        return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name) + ".pdf"


def parse_kind(value: str | None) -> LetterKind:
    """`?kind=` of an invoice's letter from the URL; missing means the invoice letter."""
    try:
        kind = LetterKind(value or LetterKind.invoice.value)
    except ValueError:
        kind = None
    if kind not in INVOICE_KINDS:
        raise DomainError(_l("Unknown kind of letter: choose the invoice letter or the reminder letter."))
    return kind


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
    if kind is LetterKind.invoice:
        return settings.letter_invoice_asks_email
    return settings.letter_reminder_asks_email  # a reminder, of an invoice or an instalment


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
        **_common(settings, customer, kind, url, today),
        invoice=invoice,
        payment=epc.payment_code(invoice, settings),
        payment_number=invoice.number,
        intro=_reminder_intro(invoice, customer, url) if kind is LetterKind.reminder else None,
    )


def _common(settings: BusinessSettings, customer: Customer, kind: LetterKind, url: str, today: date) -> dict:
    """What every letter has, whatever it is about."""
    return dict(kind=kind, customer=customer, business=settings, date=today, language=letter_language(customer),
                dossier_url=url, qr_svg=qr_svg(url), asks_for_email=asks_for_email(settings, customer, kind),
                logo_data_uri=logo_data_uri(settings))


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


# --- the instalment reminder letter ---------------------------------------------------------


def _plan_invoice(plan: InstalmentPlan) -> Document | None:
    """The plan's invoice an instalment pays first: the oldest due that still owes something
    (as a payment of the instalment online is spread: models.services.payments)."""
    owing = [d for d in plan.documents if d.status in UNPAID_STATUSES and d.currency == plan.currency
             and d.outstanding > 0]
    return min(owing, key=lambda d: (d.due_date or d.issue_date, d.id), default=None)


def check_instalment_printable(instalment: Instalment, today: date) -> Document:
    """A reminder letter only for an unpaid, due instalment of an active plan whose invoices
    still owe something; returns the invoice it pays first."""
    plan = instalment.plan
    if plan.status is not PlanStatus.active:
        raise DomainError(_l("This instalment plan is not active: no reminder letter can be printed for its "
                             "instalments."))
    if instalment.paid_at is not None:
        raise DomainError(_l("This instalment is paid: a reminder letter is only for unpaid instalments."))
    if instalment.due_date > today:
        raise DomainError(_l("This instalment is not due until %(date)s: a reminder letter is only for instalments "
                             "that are due.", date=format_date(instalment.due_date)))
    invoice = _plan_invoice(plan)
    if invoice is None:
        raise DomainError(_l("The invoices of this plan have nothing left to pay."))
    return invoice


def build_instalment_letter(instalment: Instalment, *, link_url: Callable[[str], str], today: date) -> Letter:
    """The reminder letter of an instalment the actor may see (the caller got it through
    instalments.get_instalment). Pays by transfer: the instalment's amount, with the RF
    reference of the plan's invoice it pays first, so an imported bank statement books it there.

    Creates the customer's dossier link if there is none yet (the caller commits); opening
    it records nothing else: record_instalment_printed does."""
    invoice = check_instalment_printable(instalment, today)
    plan = instalment.plan
    customer = db.session.get(Customer, plan.customer_id)
    settings = get_settings()
    url = link_url(dossier.current_token(customer))
    payment = epc.transfer_code(
        settings, amount=instalment.amount, currency=plan.currency, number=invoice.number,
        not_euros=_l("No payment QR code: banking apps read it only for amounts in euros, and this instalment is in "
                     "%(currency)s. Please transfer the amount to the account above.", currency=plan.currency))
    return Letter(**_common(settings, customer, LetterKind.instalment, url, today), invoice=None,
                  instalment=instalment, plan=plan, payment=payment, payment_number=invoice.number)


def record_instalment_printed(actor: StaffUser, instalment: Instalment, today: date) -> None:
    """Staff printed the instalment's reminder letter. On the letter list (the run put it
    there): it leaves the list, as its "Mark as printed" button does; printed without being
    listed: the customer's trail says so all the same."""
    check_instalment_printable(instalment, today)
    listed = list(db.session.scalars(select(DunningNotice.id).where(
        DunningNotice.instalment_id == instalment.id, DunningNotice.channel == DunningChannel.letter,
        DunningNotice.printed_at.is_(None))))
    if listed:
        dunning.mark_printed(actor, listed)
        return
    audit.record(actor, "letter.printed", "instalment", instalment.id, customer_id=instalment.plan.customer_id,
                 changes={"kind": [None, "reminder"]})
