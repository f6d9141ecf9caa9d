"""Customer operations: search, create, update, archive, notes and custom fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Sequence

from flask_babel import lazy_gettext as _l
from sqlalchemy import Row, Select, bindparam, func, or_, select
from sqlalchemy.orm import selectinload

from models.customers import (
    EINVOICE_MAIL_FORMATS,
    Customer,
    CustomerKind,
    CustomFieldDefinition,
    CustomFieldValue,
    Note,
    Tag,
    search_text,
)
from models.db import db, now_utc
from models.documents import UNPAID_STATUSES, Document, DocumentKind, DocumentStatus, Payable
from models.services import audit
from models.services.access import visible
from models.services.counters import next_value
from models.services.errors import DomainError
from models.services.settings import get_settings
from models.staff import StaffUser

PAGE_SIZE = 25

# The customer's own columns a form may change; the audit diff covers exactly these.
DETAIL_FIELDS = (
    "kind", "name", "company_name", "number", "email", "phone", "street", "postal_code",
    "city", "country", "language", "vat_id", "tax_number", "iban", "bic", "bank_holder",
    "buyer_reference", "einvoice_format",
)


@dataclass
class Page:
    items: Sequence[Any]
    total: int
    page: int
    per_page: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(stmt: Select, page: int, per_page: int = PAGE_SIZE, count_stmt: Select | None = None) -> Page:
    """Two queries whatever the size: one count, one page of rows.

    `count_stmt` lets a caller count without the joins only the displayed rows need.
    """
    page = max(1, page)
    if count_stmt is None:
        count_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
    total = db.session.scalar(count_stmt)
    items = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=items, total=total or 0, page=page, per_page=per_page)


def search_customers(
    staff: StaffUser,
    query: str = "",
    tag: str | None = None,
    page: int = 1,
    include_archived: bool = False,
    no_email: bool = False,
    changed_by_customer: bool = False,
    replies_to_read: bool = False,
) -> Page:
    """Search by name, company name, customer number or part of an e-mail address.

    `no_email` keeps the customers no e-mail can reach, `changed_by_customer` those whose
    own changes to their details no staff member has confirmed yet, `replies_to_read` those
    with synced e-mail nobody opened yet (the attention lists).
    """
    # Sorted the way the list shows them: companies by company name, people by name.
    stmt = (
        select(Customer)
        .options(selectinload(Customer.tags))
        .order_by(Customer.sort_key, Customer.id)
    )
    stmt = visible(stmt, staff)
    if not include_archived:
        stmt = stmt.where(Customer.archived_at.is_(None))
    query = (query or "").strip().lower()
    if query:
        stmt = stmt.where(search_text().contains(query, autoescape=True))
    if tag:
        stmt = stmt.where(Customer.tags.any(Tag.name == tag))
    if no_email:
        stmt = stmt.where(Customer.email.is_(None))
    if changed_by_customer:
        stmt = stmt.where(Customer.changes_unconfirmed_at.is_not(None))
    if replies_to_read:  # synced e-mail no staff member opened yet (issue 21)
        from models.services.synced_mail import UNREAD

        stmt = stmt.where(UNREAD)
    return paginate(stmt, page)


def all_tags() -> list[Tag]:
    return list(db.session.scalars(select(Tag).order_by(Tag.name)))


def custom_field_definitions() -> list[CustomFieldDefinition]:
    return list(
        db.session.scalars(
            select(CustomFieldDefinition).order_by(
                CustomFieldDefinition.position, CustomFieldDefinition.id
            )
        )
    )


def custom_field(field_id: int) -> CustomFieldDefinition | None:
    return db.session.get(CustomFieldDefinition, field_id)


def custom_field_values(customer: Customer) -> dict[int, str]:
    rows = db.session.execute(
        select(CustomFieldValue.field_id, CustomFieldValue.value).where(
            CustomFieldValue.customer_id == customer.id
        )
    )
    return {field_id: value for field_id, value in rows}


def _snapshot(customer: Customer) -> dict[str, Any]:
    values = {name: getattr(customer, name) for name in DETAIL_FIELDS}
    values["kind"] = customer.kind.value if customer.kind else None
    values["portal_access"] = customer.portal_access
    values["tags"] = ", ".join(t.name for t in customer.tags)
    values["assigned_staff"] = ", ".join(s.email for s in customer.assigned_staff)
    return values


def tag_names(names: Sequence[str]) -> list[str]:
    """Tags as stored: trimmed, lower-cased, once each, sorted."""
    return sorted({n.strip().lower() for n in names if n.strip()})


def _tags_named(names: Sequence[str], known: dict[str, Tag] | None = None) -> list[Tag]:
    """The Tag rows for `names`, new ones added. `known` (name -> Tag, filled in here) lets a
    batch look its tags up once (intake.upsert_customers) instead of a query per customer."""
    names = tag_names(names)
    if not names:
        return []
    existing = known if known is not None else {
        t.name: t for t in db.session.scalars(select(Tag).where(Tag.name.in_(names)))}
    for name in names:
        if name not in existing:
            existing[name] = Tag(name=name)
            db.session.add(existing[name])
    return [existing[n] for n in names]


def default_portal_access() -> bool:
    return get_settings().portal_access_default


NUMBER_IN_USE = _l("This customer number is already in use.")


def customer_number(value: int) -> str:
    """The number a customer given none gets from counter value `value`."""
    return f"C{value:05d}"


def _next_customer_number() -> str:
    """The counter's next number not taken, ignoring case (numbers are unique so)."""
    while True:
        candidate = customer_number(next_value('customer'))
        if not db.session.scalar(select(Customer.id).where(func.lower(Customer.number) == candidate.lower())):
            return candidate


def given_number(data: dict[str, Any]) -> str | None:
    """The customer number the data asks for; None keeps the current (or allocates one)."""
    return (data.get("number") or "").strip() or None


def check_details(data: dict[str, Any]) -> dict[str, Any]:
    """The rules on a customer's own columns that need no query (the number's clash does):
    the data to apply (an empty e-invoice format means "none")."""
    if "einvoice_format" in data:
        data = {**data, "einvoice_format": data["einvoice_format"] or "none"}
        if data["einvoice_format"] not in EINVOICE_MAIL_FORMATS:
            raise DomainError(_l("Choose one of the listed formats."), field="einvoice_format")
    if data.get("kind") == CustomerKind.company.value and not (data.get("company_name") or "").strip():
        raise DomainError(_l("A company needs a company name."), field="company_name")
    return data


def stored_email(data: dict[str, Any], customer: Customer | None) -> str | None:
    """The customer's address once `data` is applied (to a new customer: None), as stored:
    trimmed, lower-cased, None when empty."""
    value = data["email"] if "email" in data else customer.email if customer is not None else None
    if isinstance(value, str):
        value = value.strip() or None
    return value.lower() if value else None


def apply_details(customer: Customer, data: dict[str, Any]) -> None:
    """Checked data onto the customer's own columns, without the number and tags (no query:
    save_customer and intake's batch door both use it)."""
    email = stored_email(data, customer)
    for name in DETAIL_FIELDS:
        if name in data and name != "number":  # the number is set by the caller: empty keeps the current one
            value = data[name]
            if isinstance(value, str):
                value = value.strip() or None
            setattr(customer, name, value)
    customer.kind = CustomerKind(data.get("kind") or CustomerKind.individual.value)
    if customer.kind == CustomerKind.individual:
        customer.company_name = None
    customer.sort_key = customer.display_name.casefold()[:200]
    customer.email = email
    if "portal_access" in data:
        customer.portal_access = bool(data["portal_access"])


def save_customer(
    actor: StaffUser | None,
    data: dict[str, Any],
    customer: Customer | None = None,
) -> Customer:
    """Create (customer=None) or update a customer from validated form data.

    Managers set the assigned staff; an employee who creates a customer is assigned to
    it, so it does not vanish from their own list. Without an actor (the REST API, CSV
    import: models.services.intake) nobody is assigned.
    """
    creating = customer is None
    if creating:
        customer = Customer(portal_access=default_portal_access())
        before: dict[str, Any] = {}
    else:
        before = _snapshot(customer)

    number = given_number(data)
    if number:
        clash = db.session.scalar(
            select(Customer.id).where(
                func.lower(Customer.number) == number.lower(), Customer.id != customer.id
            )
        )
        if clash:
            raise DomainError(NUMBER_IN_USE, field="number")
    data = check_details(data)
    apply_details(customer, data)
    customer.number = number or customer.number or _next_customer_number()
    if "tags" in data:
        customer.tags = _tags_named(data["tags"])
    if actor is not None and actor.is_manager and "assigned_staff_ids" in data:
        ids = list(data["assigned_staff_ids"] or [])
        customer.assigned_staff = list(
            db.session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))
        ) if ids else []
    elif creating and actor is not None and not actor.is_manager:
        customer.assigned_staff = [actor]

    if creating:
        db.session.add(customer)
    db.session.flush()
    if "custom_fields" in data:
        _save_custom_fields(customer, data["custom_fields"])

    after = _snapshot(customer)
    changes = audit.diff(before, after)
    if creating or changes:
        audit.record(
            actor,
            "customer.created" if creating else "customer.updated",
            "customer",
            customer.id,
            customer_id=customer.id,
            changes=changes,
        )
    return customer


def _save_custom_fields(customer: Customer, values: dict[int, str | None],
                       current: dict[int, CustomFieldValue] | None = None) -> None:
    """`current` (field id -> row, kept up to date here) spares the query when a batch
    loaded the rows of many customers at once."""
    if current is None:
        current = {
            v.field_id: v
            for v in db.session.scalars(
                select(CustomFieldValue).where(CustomFieldValue.customer_id == customer.id)
            )
        }
    for field_id, value in values.items():
        value = (value or "").strip()
        row = current.get(field_id)
        if value and row:
            row.value = value
        elif value:
            current[field_id] = CustomFieldValue(customer_id=customer.id, field_id=field_id, value=value)
            db.session.add(current[field_id])
        elif row:
            db.session.delete(current.pop(field_id))


def set_archived(actor: StaffUser, customer: Customer, archived: bool) -> None:
    if bool(customer.archived_at) == archived:
        return
    customer.archived_at = now_utc() if archived else None
    audit.record(
        actor,
        "customer.archived" if archived else "customer.restored",
        "customer",
        customer.id,
        customer_id=customer.id,
    )


def add_note(actor: StaffUser, customer: Customer, body: str) -> Note:
    body = (body or "").strip()
    if not body:
        raise DomainError(_l("Write something before saving the note."), field="body")
    note = Note(customer_id=customer.id, author=actor, body=body)
    db.session.add(note)
    db.session.flush()
    audit.record(actor, "note.added", "note", note.id, customer_id=customer.id)
    return note


# Lists read plain columns through statements built once: building and caching a
# select() per call, and an ORM entity per row, cost more than the query itself.

_NOTES = (
    select(Note.id, Note.body, Note.created_at, StaffUser.name.label("author_name"))
    .outerjoin(StaffUser, Note.author_id == StaffUser.id)
    .where(Note.customer_id == bindparam("customer_id"))
    .order_by(Note.created_at.desc(), Note.id.desc())
)
_LATEST_NOTES = _NOTES.limit(5)


def latest_notes(customer: Customer, limit: int | None = 5) -> Sequence[Row]:
    """(id, body, created_at, author_name): author_name is None once the author is gone."""
    stmt = _LATEST_NOTES if limit == 5 else _NOTES.limit(limit) if limit else _NOTES
    return db.session.execute(stmt, {"customer_id": customer.id}).all()


@dataclass(frozen=True, slots=True)
class InvoiceSummary(Payable):
    """An invoice as lists show it."""

    id: int
    number: str
    issue_date: date
    due_date: date | None
    currency: str
    status: DocumentStatus
    gross_total: Decimal
    amount_paid: Decimal
    amount_credited: Decimal
    amount_written_off: Decimal


# In InvoiceSummary's field order: select(*SUMMARY_COLUMNS) rows build one directly.
SUMMARY_COLUMNS = (Document.id, Document.number, Document.issue_date, Document.due_date, Document.currency,
                   Document.status, Document.gross_total, Document.amount_paid,
                   Document.amount_credited, Document.amount_written_off)

_OPEN_INVOICES = (
    select(*SUMMARY_COLUMNS)
    .where(
        Document.customer_id == bindparam("customer_id"),
        Document.kind == DocumentKind.invoice,
        Document.status.in_(UNPAID_STATUSES),
    )
    .order_by(Document.due_date, Document.id)
)
_RELEASED_OPEN_INVOICES = _OPEN_INVOICES.where(Document.released_to_portal.is_(True))


def open_invoices(customer: Customer, released_only: bool = False) -> tuple[list[InvoiceSummary], dict[str, Decimal]]:
    """Unpaid invoices of a customer, oldest due first, and what is outstanding per currency.

    `released_only`: what the customer may see (portal, dossier link).
    """
    stmt = _RELEASED_OPEN_INVOICES if released_only else _OPEN_INVOICES
    invoices = [InvoiceSummary(*row) for row in db.session.execute(stmt, {"customer_id": customer.id})]
    outstanding: dict[str, Decimal] = {}
    for invoice in invoices:
        outstanding[invoice.currency] = outstanding.get(invoice.currency, Decimal("0.00")) + invoice.outstanding
    return invoices, outstanding


def define_custom_field(actor: StaffUser, label: str, kind: str) -> CustomFieldDefinition:
    label = (label or "").strip()
    if not label:
        raise DomainError(_l("Give the field a label."), field="label")
    if db.session.scalar(
        select(CustomFieldDefinition.id).where(func.lower(CustomFieldDefinition.label) == label.lower())
    ):
        raise DomainError(_l("A field with this label exists already."), field="label")
    position = (db.session.scalar(select(func.max(CustomFieldDefinition.position))) or 0) + 1
    field = CustomFieldDefinition(label=label, kind=kind, position=position)
    db.session.add(field)
    db.session.flush()
    audit.record(actor, "custom_field.defined", "custom_field", field.id, changes={"label": [None, label]})
    return field


def remove_custom_field(actor: StaffUser, field: CustomFieldDefinition) -> None:
    audit.record(actor, "custom_field.removed", "custom_field", field.id, changes={"label": [field.label, None]})
    db.session.delete(field)
