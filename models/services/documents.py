"""Documents of every kind: exact totals, numbering, drafts and cancelling (the staff lists:
models.services.document_list).

Credit notes and cancelling, reminders, quotes' decisions and money recorded by staff
build on this module (models.services.credit_notes, reminders, quotes, recorded_payments).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import contains_eager, selectinload

from models.customers import Customer
from models.db import db, now_utc
from models.documents import (
    Document,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
)
from models.services import audit, credits, settlement
from models.services.access import visible
from models.services.counters import advance, next_value
from models.services.errors import DomainError, NotFound
from models.services.settings import get_settings
from models.settings import BusinessSettings
from models.staff import StaffUser

CENT = Decimal("0.01")
MAX_LINES = 100
# Amounts are stored as cents in a 64-bit integer (max. about 9.2e16 in whole units).
MAX_TOTAL = Decimal("1e16")
FORM_KEY = re.compile(r"[0-9a-f]{32}")

@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal


@dataclass(frozen=True)
class Totals:
    net: Decimal
    tax: Decimal
    gross: Decimal


def line_net(line: LineInput) -> Decimal:
    return (line.quantity * line.unit_price).quantize(CENT, rounding=ROUND_HALF_UP)


def compute_totals(lines: list[LineInput]) -> Totals:
    """Net per line rounded to the cent; VAT per rate over the summed nets (as invoices print it)."""
    net_by_rate: dict[Decimal, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for line in lines:
        net_by_rate[line.vat_rate] += line_net(line)
    net = sum(net_by_rate.values(), Decimal("0.00"))
    tax = sum(
        ((amount * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP) for rate, amount in net_by_rate.items()),
        Decimal("0.00"),
    )
    return Totals(net=net, tax=tax, gross=net + tax)


# --- numbering -------------------------------------------------------------------------


def allocate_number(kind: DocumentKind, issue_date: date) -> str:
    """The next number of `kind` in the issue year: prefix from settings, gap-free (a
    counter row locked until the request commits), e.g. `Q-2026-00007`."""
    prefix = get_settings().prefix_for(kind.value)
    while True:
        number = f"{prefix}{issue_date.year}-{next_value(f'{kind.value}-{issue_date.year}'):05d}"
        # A document imported with its own number may already have this one: pass over it.
        if not _number_used(kind, number):
            return number


def allocate_numbers(kind: DocumentKind, issue_date: date, count: int) -> list[str]:
    """`count` next numbers of `kind` at once, as allocate_number makes them one by one (in a
    constant number of statements: a batch of automatic reminders)."""
    if count <= 0:
        return []
    prefix = get_settings().prefix_for(kind.value)
    name = f"{kind.value}-{issue_date.year}"
    numbers: list[str] = []
    while len(numbers) < count:
        wanted = count - len(numbers)
        last = advance(name, wanted)
        fresh = [f"{prefix}{issue_date.year}-{value:05d}" for value in range(last - wanted + 1, last + 1)]
        # Numbers a document imported with its own number already has are passed over.
        used = set(db.session.scalars(select(Document.number).where(Document.kind == kind,
                                                                      Document.number.in_(fresh))))
        numbers += [number for number in fresh if number not in used]
    return numbers


def _number_used(kind: DocumentKind, number: str) -> bool:
    return db.session.scalar(select(Document.id).where(Document.kind == kind, Document.number == number)) is not None


def external_number(kind: DocumentKind, number: str) -> str:
    """A number the document already has elsewhere (an accounting package), kept as it is;
    refused at the field when its kind already has it."""
    number = number.strip()[:40]
    if not number:
        raise DomainError(_l("Enter the number."), field="number")
    if _number_used(kind, number):
        raise DomainError(_l("Number %(number)s is already used.", number=number), field="number")
    return number


# --- lines and totals -------------------------------------------------------------------


def check_lines(kind: DocumentKind, lines: list[LineInput], expected: Totals | None) -> Totals:
    if not lines:
        raise DomainError(_l("Add at least one line."), field="lines")
    if len(lines) > MAX_LINES:
        raise DomainError(_l("A document has at most %(n)s lines.", n=MAX_LINES), field="lines")
    if kind in (DocumentKind.invoice, DocumentKind.credit_note) and any(line.quantity < 0 for line in lines):
        raise DomainError(_l("Quantities cannot be negative. Money owed to the customer is a credit note."),
                          field="lines")
    totals = compute_totals(lines)
    check_totals(kind, totals)
    if expected is not None and expected != totals:
        raise DomainError(_l("The totals do not add up: the lines give net %(net)s, tax %(tax)s, gross %(gross)s.",
                             net=totals.net, tax=totals.tax, gross=totals.gross), field="totals")
    return totals


def check_totals(kind: DocumentKind, totals: Totals) -> None:
    """What a document's totals must be, whether from its lines or given without lines."""
    if max(abs(totals.net), abs(totals.tax), abs(totals.gross)) >= MAX_TOTAL:
        raise DomainError(_l("The invoice total is too large.") if kind == DocumentKind.invoice
                          else _l("The total is too large."), field="lines")
    if kind == DocumentKind.invoice and totals.gross <= 0:
        # nothing to ask, or money owed to the customer: never reminded or paid
        raise DomainError(_l("The invoice total must be more than zero. Money owed to the customer is a credit note, "
                             "not an invoice."), field="lines")
    if kind == DocumentKind.credit_note and totals.gross <= 0:
        raise DomainError(_l("The credit note's total must be more than zero."), field="lines")
    if kind == DocumentKind.quote and totals.gross < 0:
        raise DomainError(_l("A quote's total cannot be negative."), field="lines")


def line_rows(lines: list[LineInput]) -> list[DocumentLine]:
    return [
        DocumentLine(position=i, description=line.description, quantity=line.quantity,
                     unit_price=line.unit_price, vat_rate=line.vat_rate, net_amount=line_net(line))
        for i, line in enumerate(lines, start=1)
    ]


def check_dates(kind: DocumentKind, issue_date: date, due_date: date | None, valid_until: date | None) -> None:
    if due_date is not None and due_date < issue_date:
        raise DomainError(_l("The due date cannot be before the issue date."), field="due_date")
    if kind == DocumentKind.invoice and due_date is None:
        raise DomainError(_l("Enter a date."), field="due_date")
    if kind == DocumentKind.quote:
        if valid_until is None:
            raise DomainError(_l("Enter a date."), field="valid_until")
        if valid_until < issue_date:
            raise DomainError(_l("The valid-until date cannot be before the issue date."), field="valid_until")


# What a new document of each kind starts as once issued (an invoice may start as a draft).
_ISSUED_STATUS = {
    DocumentKind.invoice: DocumentStatus.open,
    DocumentKind.quote: DocumentStatus.pending,
    DocumentKind.credit_note: DocumentStatus.issued,
    DocumentKind.delivery_note: DocumentStatus.issued,
    DocumentKind.order_confirmation: DocumentStatus.issued,
}
# Reminders (models.services.reminders) and credit notes (models.services.credit_notes)
# have their own rules; create_document makes the other kinds.
CREATABLE_KINDS = (DocumentKind.invoice, DocumentKind.quote, DocumentKind.order_confirmation,
                   DocumentKind.delivery_note)


def create_document(actor: StaffUser | None, customer: Customer, kind: DocumentKind, *,
                    form_key: str | None = None, **values) -> Document:
    """A new document (the values: new_document's), written, audited for staff, and an issued
    invoice settled from the customer's credit when the settings say so; the one already
    made from the form with `form_key` when that form is sent again (made_from_form)."""
    if (made := made_from_form(customer.id, form_key)) is not None:
        return made
    document = new_document(customer, kind, form_key=form_key, **values)
    db.session.flush()
    document_created(actor, document)
    return document


def new_document(
    customer: Customer,
    kind: DocumentKind,
    *,
    issue_date: date,
    currency: str,
    lines: list[LineInput],
    due_date: date | None = None,
    valid_until: date | None = None,
    draft: bool = False,
    number: str | None = None,
    language: str | None = None,
    notes: str | None = None,
    released: bool = True,
    related: Document | None = None,
    expected_totals: Totals | None = None,
    number_checked: bool = False,
    external_id: str | None = None,
    form_key: str | None = None,
) -> Document:
    """A new document, checked and added to the session but not written yet: create_document
    writes it and calls document_created; a batch of the intake writes many in one flush,
    then calls document_created for each.

    `number`: the number it already has elsewhere (an accounting package), kept as it is;
    otherwise the next of its kind is allocated when it is issued. `number_checked`: the
    caller just looked the number up in its kind and found it free. Only invoices have
    drafts. No lines but `expected_totals`: a document imported with its totals only
    (models.services.intake), as is `external_id`. `form_key`: see made_from_form."""
    if draft and kind != DocumentKind.invoice:
        raise DomainError(_l("Only invoices have drafts."))
    check_dates(kind, issue_date, due_date, valid_until)
    if not lines and expected_totals is not None:
        check_totals(kind, expected_totals)
        totals = expected_totals
    else:
        totals = check_lines(kind, lines, expected_totals)
    if number is not None:
        number = number.strip()[:40] if number_checked and number.strip() else external_number(kind, number)
    document = Document(
        customer_id=customer.id,
        kind=kind,
        number=number if draft else (number or allocate_number(kind, issue_date)),  # a draft's own number stays
        issue_date=issue_date,
        due_date=due_date,
        valid_until=valid_until if kind == DocumentKind.quote else None,
        currency=currency,
        status=DocumentStatus.draft if draft else _ISSUED_STATUS[kind],
        net_total=totals.net,
        tax_total=totals.tax,
        gross_total=totals.gross,
        language=language or customer.language,
        notes=(notes or "").strip()[:4000] or None,
        released_to_portal=released,
        related_id=related.id if related is not None else None,
        external_id=external_id,
        form_key=kept_form_key(form_key),
        lines=line_rows(lines),
    )
    db.session.add(document)
    return document


def kept_form_key(form_key: str | None) -> str | None:
    """The key of the staff form a document or a recorded payment was made from, as kept: 32
    hex digits; anything else is no key."""
    return form_key if form_key and FORM_KEY.fullmatch(form_key) else None


def made_from_form(customer_id: int, form_key: str | None) -> Document | None:
    """The document already made from the staff form with `form_key` (a random hidden key,
    new with every form shown), or None. That form was sent twice (a double click, a reload
    of the answer): the services that create documents return this one instead of making a
    second. The customer lock comes first, so requests of one form at the same moment make
    one document: the later ones wait for the first to commit and then find it. Documents
    made without a form (the API, an import, a quote converted) have no key."""
    form_key = kept_form_key(form_key)
    if form_key is None:
        return None
    settlement.lock_customer(customer_id)
    return db.session.scalar(select(Document).where(Document.form_key == form_key))


def document_created(actor: StaffUser | None, document: Document, settings: BusinessSettings | None = None, *,
                     credit_possible: bool = True) -> None:
    """What follows a new document's INSERT: staff's audit line (demo data, tests and the
    intake make documents without an actor), and an issued invoice settled from the
    customer's credit. `settings`: the business's, when the caller has them at hand;
    `credit_possible=False`: the caller knows the customer has no credit in its currency."""
    if actor is not None:
        audit_created(actor, document)
    if document.kind == DocumentKind.invoice and document.status != DocumentStatus.draft and credit_possible:
        _issued(document, settings)


def create_invoice(
    actor: StaffUser | None,
    customer: Customer,
    *,
    issue_date: date,
    due_date: date,
    currency: str,
    lines: list[LineInput],
    status: DocumentStatus = DocumentStatus.open,
    amount_paid: Decimal = Decimal("0.00"),
) -> Document:
    """An issued invoice (demo data and tests may start it partly or wholly paid)."""
    invoice = create_document(actor, customer, DocumentKind.invoice, issue_date=issue_date, due_date=due_date,
                              currency=currency, lines=lines)
    if status != DocumentStatus.open or amount_paid:
        invoice.status, invoice.amount_paid = status, amount_paid
        db.session.flush()
    return invoice


def audit_created(actor: StaffUser | None, document: Document) -> None:
    """The trail's line for a new document: by staff, or (no actor, inside audit.acting_as)
    by the intake's API key or import file."""
    audit.record(
        actor, f"{document.kind.value}.created", "document", document.id, customer_id=document.customer_id,
        changes={"number": [None, document.number], "gross_total": [None, str(document.gross_total)],
                 "status": [None, document.status.value]},
    )


def _issued(invoice: Document, settings: BusinessSettings | None = None) -> None:
    """An invoice became due: customer credit settles it when settings say so."""
    if (settings or get_settings()).apply_credit_automatically:
        credits.apply_credit(None, invoice)


# --- drafts -----------------------------------------------------------------------------


def _editable(document: Document) -> None:
    """Still a draft: its row is locked (a no-op UPDATE) and checked as it is now, so a draft
    a colleague just issued or deleted is not edited, deleted or issued a second time (which
    would lose the first number)."""
    if document.status == DocumentStatus.draft and db.session.execute(
        update(Document).where(Document.id == document.id, Document.status == DocumentStatus.draft)
        .values(status=DocumentStatus.draft).execution_options(synchronize_session=False)
    ).rowcount == 1:
        return
    raise DomainError(_l("Only a draft can be edited; correct an issued invoice with a credit note."))


def update_draft(actor: StaffUser, document: Document, *, issue_date: date, due_date: date, currency: str,
                 lines: list[LineInput], notes: str | None = None) -> Document:
    _editable(document)
    check_dates(document.kind, issue_date, due_date, None)
    totals = check_lines(document.kind, lines, None)
    before = {"gross_total": str(document.gross_total), "due_date": str(document.due_date)}
    document.issue_date, document.due_date, document.currency = issue_date, due_date, currency
    document.net_total, document.tax_total, document.gross_total = totals.net, totals.tax, totals.gross
    document.notes = (notes or "").strip()[:4000] or None
    document.lines = line_rows(lines)
    db.session.flush()
    audit.record(actor, "invoice.draft_edited", "document", document.id, customer_id=document.customer_id,
                 changes={"gross_total": [before["gross_total"], str(totals.gross)],
                          "due_date": [before["due_date"], str(due_date)]})
    return document


def issue_draft(actor: StaffUser, document: Document) -> Document:
    """The draft gets the next number (unless it came with its own) and becomes open: from
    now on the customer sees it."""
    _editable(document)
    document.number = document.number or allocate_number(document.kind, document.issue_date)
    document.status = DocumentStatus.open
    db.session.flush()
    audit.record(actor, "invoice.issued", "document", document.id, customer_id=document.customer_id,
                 changes={"number": [None, document.number], "status": ["draft", "open"]})
    _issued(document)
    return document


def delete_draft(actor: StaffUser, document: Document) -> None:
    _editable(document)
    audit.record(actor, "invoice.draft_deleted", "document", document.id, customer_id=document.customer_id,
                 changes={"gross_total": [str(document.gross_total), None]})
    db.session.delete(document)
    db.session.flush()


# --- corrections of issued documents --------------------------------------------------


def set_released(actor: StaffUser, document: Document, released: bool) -> None:
    if document.released_to_portal != released:
        document.released_to_portal = released
        audit.record(actor, "document.released" if released else "document.withdrawn", "document", document.id,
                     customer_id=document.customer_id, changes={"released_to_portal": [not released, released]})


def mark_sent(document: Document) -> None:
    """The customer was sent it (e-mail queued, letter printed): cancelling now needs a
    credit note."""
    if document.sent_at is None:
        document.sent_at = now_utc()


def get_document(staff: StaffUser, document_id: int) -> Document:
    stmt = (
        select(Document)
        .join(Document.customer)
        .options(contains_eager(Document.customer), selectinload(Document.lines))
        .where(Document.id == document_id)
    )
    document = db.session.scalar(visible(stmt, staff))
    if document is None:
        raise NotFound()
    return document


def derived_documents(document: Document) -> list[Document]:
    """Documents that refer to this one: an invoice's credit notes, what a quote became."""
    return list(db.session.scalars(select(Document).where(Document.related_id == document.id).order_by(Document.id)))


def documents_of(customer: Customer, ids: list[int]) -> list[Document]:
    """The customer's documents among `ids` (others' ids are simply not found)."""
    return list(db.session.scalars(
        select(Document).where(Document.customer_id == customer.id, Document.id.in_(ids))
        .order_by(Document.due_date, Document.id)))


def get_invoice(staff: StaffUser, document_id: int) -> Document:
    """An invoice (404 for any other kind, as for one the staff member may not see)."""
    document = get_document(staff, document_id)
    if document.kind != DocumentKind.invoice:
        raise NotFound()
    return document
