"""Invoices: exact totals, numbering, and the staff invoice list with its filters."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, selectinload

from models.customers import Customer
from models.db import db
from models.documents import (
    UNPAID_STATUSES,
    Document,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
)
from models.services import audit
from models.services.access import visible
from models.services.counters import next_value
from models.services.customers import Page, paginate
from models.services.errors import DomainError, NotFound
from models.staff import StaffUser

CENT = Decimal("0.01")
MAX_LINES = 100
# Amounts are stored as cents in a 64-bit integer (max. about 9.2e16 in whole units).
MAX_TOTAL = Decimal("1e16")

# Filters of the invoice list. "overdue" is derived from the due date, not stored.
STATUS_FILTERS = ("open", "partially_paid", "paid", "overdue", "cancelled")
# "provided_email": the debtor left an address on the dossier page that staff have not
# adopted or dismissed yet; "questions": a debtor's question waits for an answer.
ATTENTION_FILTERS = ("no_email", "provided_email", "questions")


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
    if not lines:
        raise DomainError(_l("Add at least one line."), field="lines")
    if len(lines) > MAX_LINES:
        raise DomainError(_l("An invoice has at most %(n)s lines.", n=MAX_LINES), field="lines")
    if due_date < issue_date:
        raise DomainError(_l("The due date cannot be before the issue date."), field="due_date")
    totals = compute_totals(lines)
    if max(abs(totals.net), abs(totals.tax), abs(totals.gross)) >= MAX_TOTAL:
        raise DomainError(_l("The invoice total is too large."))
    if totals.gross <= 0:  # nothing to ask, or money owed to the customer: never reminded or paid
        raise DomainError(_l("The invoice total must be more than zero. Money owed to the customer is a credit note, "
                             "not an invoice."), field="lines")
    number = f"{issue_date.year}-{next_value(f'invoice-{issue_date.year}'):05d}"
    invoice = Document(
        customer_id=customer.id,
        kind=DocumentKind.invoice,
        number=number,
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        status=status,
        net_total=totals.net,
        tax_total=totals.tax,
        gross_total=totals.gross,
        amount_paid=amount_paid,
        lines=[
            DocumentLine(
                position=i,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                vat_rate=line.vat_rate,
                net_amount=line_net(line),
            )
            for i, line in enumerate(lines, start=1)
        ],
    )
    db.session.add(invoice)
    db.session.flush()
    if actor is not None:
        audit.record(
            actor, "invoice.created", "document", invoice.id, customer_id=customer.id,
            changes={"number": [None, number], "gross_total": [None, str(totals.gross)]},
        )
    return invoice


def list_invoices(
    staff: StaffUser,
    *,
    status: str | None = None,
    attention: str | None = None,
    query: str = "",
    today: date,
    page: int = 1,
) -> Page:
    conditions = [Document.kind == DocumentKind.invoice]
    if status == "overdue":
        conditions += [Document.status.in_(UNPAID_STATUSES), Document.due_date < today]
    elif status in STATUS_FILTERS:
        conditions.append(Document.status == DocumentStatus(status))
    if attention == "no_email":
        conditions += [Customer.email.is_(None), Document.status.in_(UNPAID_STATUSES)]
    elif attention == "provided_email":
        conditions += [Customer.provided_email.is_not(None), Document.status.in_(UNPAID_STATUSES)]
    elif attention == "questions":
        conditions.append(Document.awaiting_answer_since.is_not(None))
    query = (query or "").strip().lower()
    if query:
        conditions.append(Document.number.contains(query, autoescape=True))

    stmt = visible(
        select(Document)
        .join(Document.customer)
        .options(contains_eager(Document.customer))
        .where(*conditions)
        .order_by(Document.issue_date.desc(), Document.id.desc()),
        staff,
    )
    # Counting 100,000 invoices is cheap without the customer join, which only the
    # attention filter and an employee's visibility need.
    count_stmt = select(func.count(Document.id)).where(*conditions)
    if attention or not staff.sees_all_customers:
        count_stmt = visible(count_stmt.join(Document.customer), staff)
    return paginate(stmt, page, count_stmt=count_stmt)


def get_invoice(staff: StaffUser, document_id: int) -> Document:
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
