"""The staff lists of documents: every customer's (the document list) and one customer's
(the Documents tab). Reading only; models.services.documents holds the write side.

Both answer with two statements whatever the number of documents (a count and one page),
and the Attention counts with one more. Filters that are not derived from a stored status
are computed here, in SQL: overdue (unpaid and due before today) and expired (a pending
quote whose valid-until date has passed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import contains_eager
from sqlalchemy.sql import ColumnElement

from models.customers import Customer, search_text
from models.db import db
from models.documents import UNPAID_STATUSES, Document, DocumentKind, DocumentStatus
from models.services.access import visible
from models.services.customers import Page, paginate
from models.staff import StaffUser

# The kinds in the order the filters show them.
KINDS = (DocumentKind.invoice, DocumentKind.reminder, DocumentKind.quote, DocumentKind.credit_note,
         DocumentKind.order_confirmation, DocumentKind.delivery_note)
# What each kind can be; "overdue" and "expired" are derived, never stored.
STATUS_FILTERS_BY_KIND = {
    DocumentKind.invoice: ("draft", "open", "partially_paid", "overdue", "paid", "cancelled"),
    DocumentKind.reminder: ("open", "partially_paid", "overdue", "paid", "cancelled", "issued"),
    DocumentKind.quote: ("pending", "accepted", "rejected", "expired"),
    DocumentKind.credit_note: ("issued",),
    DocumentKind.order_confirmation: ("issued",),
    DocumentKind.delivery_note: ("issued",),
}
# Every status filter, in the order the list shows them when no kind is chosen.
STATUS_FILTERS = ("draft", "open", "partially_paid", "overdue", "paid", "cancelled",
                  "pending", "accepted", "rejected", "expired", "issued")
# "provided_email": the debtor left an address on the dossier page that staff have not
# adopted or dismissed yet (both about invoices); "questions": a customer's question on a
# document of any kind waits for an answer (the dashboard counts the same rows).
ATTENTION_FILTERS = ("no_email", "provided_email", "questions")
SORTS = ("date", "number", "customer", "amount", "due")
DIRECTIONS = ("asc", "desc")


@dataclass(frozen=True)
class DocumentFilter:
    """What a list shows. `parse` turns request values into one; anything it does not
    know (a kind, status, sort that does not exist) is left out rather than refused."""

    kind: DocumentKind | None = None
    status: str | None = None
    attention: str | None = None
    query: str = ""
    customer_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "date"
    direction: str = "desc"

    @classmethod
    def parse(cls, *, kind: str | None = None, status: str | None = None, attention: str | None = None,
              query: str | None = None, sort: str | None = None, direction: str | None = None,
              customer_id: int | None = None, date_from: date | None = None,
              date_to: date | None = None) -> "DocumentFilter":
        kind = {k.value: k for k in KINDS}.get(kind or "")
        sort = sort if sort in SORTS else "date"
        # Dates newest first and amounts largest first by default; text and due dates A→Z / soonest.
        default_direction = "desc" if sort in ("date", "amount") else "asc"
        return cls(
            kind=kind,
            # a status the chosen kind never has (a paid quote) is no filter: the kind's all
            status=status if status in (STATUS_FILTERS_BY_KIND[kind] if kind else STATUS_FILTERS) else None,
            attention=attention if attention in ATTENTION_FILTERS else None,
            # PostgreSQL refuses NUL; numbers, names and addresses are short
            query=" ".join((query or "").replace("\x00", "").split())[:100],
            customer_id=customer_id,
            date_from=date_from,
            date_to=date_to,
            sort=sort,
            direction=direction if direction in DIRECTIONS else default_direction,
        )

    @property
    def status_choices(self) -> tuple[str, ...]:
        """The statuses worth offering for the chosen kind (all of them for every kind)."""
        return STATUS_FILTERS_BY_KIND[self.kind] if self.kind else STATUS_FILTERS

    def with_(self, **changes) -> "DocumentFilter":
        return replace(self, **changes)


# --- conditions -------------------------------------------------------------------------


def status_condition(status: str, today: date) -> ColumnElement[bool]:
    if status == "overdue":
        return and_(Document.status.in_(UNPAID_STATUSES), Document.due_date < today)
    if status == "expired":
        return or_(Document.status == DocumentStatus.expired,
                   and_(Document.status == DocumentStatus.pending, Document.valid_until < today))
    if status == "pending":
        return and_(Document.status == DocumentStatus.pending,
                    or_(Document.valid_until.is_(None), Document.valid_until >= today))
    return Document.status == DocumentStatus(status)


def attention_condition(attention: str) -> ColumnElement[bool]:
    """Needs the customer joined for no_email and provided_email."""
    invoice = Document.kind == DocumentKind.invoice
    if attention == "no_email":
        return and_(invoice, Customer.email.is_(None), Document.status.in_(UNPAID_STATUSES))
    if attention == "provided_email":
        return and_(invoice, Customer.provided_email.is_not(None), Document.status.in_(UNPAID_STATUSES))
    return Document.awaiting_answer_since.is_not(None)


_NEEDS_CUSTOMER = ("no_email", "provided_email")


def search_condition(query: str) -> ColumnElement[bool]:
    """A part of the document number, or of the customer's name, company name, customer
    number or e-mail address (the customer search's expression, which PostgreSQL holds in a
    trigram index: the customers are found by the index, their documents by customer)."""
    needle = query.lower()
    customers = select(Customer.id).where(search_text().contains(needle, autoescape=True))
    return or_(func.lower(Document.number).contains(needle, autoescape=True), Document.customer_id.in_(customers))


def _conditions(filters: DocumentFilter, today: date) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.kind is not None:
        conditions.append(Document.kind == filters.kind)
    if filters.status is not None:
        conditions.append(status_condition(filters.status, today))
    if filters.attention is not None:
        conditions.append(attention_condition(filters.attention))
    if filters.query:
        conditions.append(search_condition(filters.query))
    if filters.customer_id is not None:
        conditions.append(Document.customer_id == filters.customer_id)
    if filters.date_from is not None:
        conditions.append(Document.issue_date >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(Document.issue_date <= filters.date_to)
    return conditions


def _order(filters: DocumentFilter) -> list:
    """Sort column, then the id in the same direction, so pages never overlap. Columns that
    may be empty (a draft's number, a due date) put the empty ones last either way."""
    column, nullable = {
        "date": (Document.issue_date, False),
        "number": (Document.number, True),
        "customer": (Customer.sort_key, False),
        "amount": (Document.gross_total, False),
        "due": (func.coalesce(Document.due_date, Document.valid_until), True),
    }[filters.sort]
    descending = filters.direction == "desc"
    first = column.desc() if descending else column.asc()
    if nullable:
        first = first.nulls_last()
    return [first, Document.id.desc() if descending else Document.id.asc()]


# --- the lists --------------------------------------------------------------------------


def list_documents(staff: StaffUser, filters: DocumentFilter, *, today: date, page: int = 1) -> Page:
    """Documents of every customer `staff` may see, each with its customer loaded."""
    conditions = _conditions(filters, today)
    stmt = visible(
        select(Document)
        .join(Document.customer)
        .options(contains_eager(Document.customer))
        .where(*conditions)
        .order_by(*_order(filters)),
        staff,
    )
    # Counting 100,000 documents is cheap without the customer join, which only some
    # Attention filters and an employee's visibility need.
    count_stmt = select(func.count(Document.id)).where(*conditions)
    if filters.attention in _NEEDS_CUSTOMER or not staff.sees_all_customers:
        count_stmt = visible(count_stmt.join(Document.customer), staff)
    return paginate(stmt, page, count_stmt=count_stmt)


def customer_documents(customer: Customer, filters: DocumentFilter, *, today: date, page: int = 1) -> Page:
    """One customer's documents (the caller proved access: access.get_customer). The tab
    filters by kind, status and period; sorting by customer means nothing here (by date)."""
    filters = filters.with_(customer_id=None, attention=None, query="")
    if filters.sort == "customer":
        filters = filters.with_(sort="date", direction="desc")
    conditions = [Document.customer_id == customer.id, *_conditions(filters, today)]
    stmt = select(Document).where(*conditions).order_by(*_order(filters))
    return paginate(stmt, page, count_stmt=select(func.count(Document.id)).where(*conditions))


def attention_counts(staff: StaffUser) -> dict[str, int]:
    """How many documents each Attention filter lists, in one statement."""

    def count(attention: str):
        stmt = select(func.count(Document.id)).where(attention_condition(attention))
        if attention in _NEEDS_CUSTOMER or not staff.sees_all_customers:
            stmt = visible(stmt.join(Customer, Document.customer_id == Customer.id), staff)
        return stmt.scalar_subquery()

    row = db.session.execute(select(*(count(a) for a in ATTENTION_FILTERS))).one()
    return dict(zip(ATTENTION_FILTERS, row))
