"""Customers and documents as CSV, in exactly the columns the import reads.

The header names are the import's field keys, so an exported file maps itself and
importing it again changes nothing (every record "unchanged"). Written as it is read, a
page of PAGE rows at a time (keyset on id), so a big export holds one page in memory.
Every text cell goes through values.safe_cell: a name typed as `=HYPERLINK(…)` reaches
a spreadsheet as text, never as a formula (the import strips the guard again).
UTF-8 with a byte order mark (so Excel reads the accents), commas, decimal points, ISO dates.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, selectinload

from models.contacts import ContactPerson
from models.customers import Customer, CustomFieldDefinition, CustomFieldValue
from models.db import db
from models.documents import Document, ReminderItem
from models.services.csv_import import fields
from models.services.csv_import.values import safe_cell

PAGE = 500
BOM = "\ufeff"
RECEIVABLE = ("invoice", "reminder")
DERIVED_STATUSES = ("open", "partially_paid", "paid")


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _amount(value) -> str:
    return "" if value is None else f"{value:.2f}"


def _number(value) -> str:
    """A quantity or rate without trailing zeros (2.000 → 2, 21.00 → 21)."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return text


def _date(value) -> str:
    return value.isoformat() if value else ""


def _writer() -> tuple[io.StringIO, csv.writer]:
    out = io.StringIO()
    return out, csv.writer(out, lineterminator="\r\n")


def _flush(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def _pages(stmt, id_column) -> Iterator[list]:
    last = 0
    while True:
        page = list(db.session.scalars(stmt.where(id_column > last).order_by(id_column).limit(PAGE)).unique())
        if not page:
            return
        yield page
        last = page[-1].id


def customer_header() -> tuple[list[str], list[CustomFieldDefinition], int]:
    definitions = list(db.session.scalars(select(CustomFieldDefinition).order_by(
        CustomFieldDefinition.position, CustomFieldDefinition.id)))
    most = db.session.scalar(select(func.max(select(func.count()).where(
        ContactPerson.customer_id == Customer.id).scalar_subquery()))) or 0
    header = [*fields.CUSTOMER_COLUMNS, *(fields.CUSTOM_PREFIX + d.label for d in definitions)]
    for n in range(1, most + 1):
        header += [f"contact{n}_{part}" for part in fields.CONTACT_PARTS]
    return header, definitions, most


def customers_csv() -> Iterator[str]:
    header, definitions, most = customer_header()
    out, writer = _writer()
    writer.writerow(header)
    yield BOM + _flush(out)
    stmt = select(Customer).options(selectinload(Customer.tags))
    for page in _pages(stmt, Customer.id):
        ids = [c.id for c in page]
        people = defaultdict(list)
        for person in db.session.scalars(select(ContactPerson).where(ContactPerson.customer_id.in_(ids))
                                         .order_by(ContactPerson.customer_id, ContactPerson.id)):
            people[person.customer_id].append(person)
        custom = defaultdict(dict)
        if definitions:
            for value in db.session.scalars(select(CustomFieldValue).where(CustomFieldValue.customer_id.in_(ids))):
                custom[value.customer_id][value.field_id] = value.value
        for c in page:
            row = [c.number, c.external_id, c.kind.value, c.name, c.company_name, c.email, c.phone, c.street,
                   c.postal_code, c.city, c.country, c.language, c.vat_id, c.tax_number, c.iban, c.bic,
                   c.bank_holder, ", ".join(t.name for t in c.tags), _yes(c.portal_access)]
            row += [custom[c.id].get(d.id) for d in definitions]
            for n in range(most):
                p = people[c.id][n] if n < len(people[c.id]) else None
                row += ([p.name, p.email, p.phone, p.role.value, _yes(p.invoice_emails), _yes(p.account_emails)]
                        if p else [""] * len(fields.CONTACT_PARTS))
            writer.writerow([safe_cell(v) for v in row])
        yield _flush(out)
        db.session.expunge_all()


def documents_csv() -> Iterator[str]:
    out, writer = _writer()
    writer.writerow(fields.DOCUMENT_COLUMNS)
    yield BOM + _flush(out)
    related = aliased(Document)
    stmt = (select(Document).options(selectinload(Document.lines), selectinload(Document.customer),
                                     selectinload(Document.related))
            .where((Document.number.is_not(None)) | (Document.external_id.is_not(None))))
    for page in _pages(stmt, Document.id):
        reminded = defaultdict(list)
        reminders = [d.id for d in page if d.kind.value == "reminder"]
        if reminders:
            for reminder_id, number in db.session.execute(
                select(ReminderItem.reminder_id, related.number).join(related, related.id == ReminderItem.invoice_id)
                .where(ReminderItem.reminder_id.in_(reminders)).order_by(ReminderItem.id)
            ):
                reminded[reminder_id].append(number)
        for d in page:
            receivable = d.kind.value in RECEIVABLE
            # Open, partially paid and paid follow from the amounts (amount_paid, and credit
            # notes, which have rows of their own): left to them, not stated.
            status = "" if receivable and d.status.value in DERIVED_STATUSES else d.status.value
            head = [d.kind.value, d.number, d.external_id, d.customer.number, d.customer.external_id, status,
                    _date(d.issue_date), _date(d.due_date), _date(d.valid_until), d.currency, d.language,
                    _amount(d.net_total), _amount(d.tax_total), _amount(d.gross_total),
                    _amount(d.amount_paid) if receivable else "",
                    d.related.number if d.related is not None and (
                        d.kind.value == "credit_note" or d.related.kind.value == "quote") else "",
                    d.reminder_level or "", _amount(d.fee), _amount(d.interest), ", ".join(reminded[d.id]),
                    _yes(d.released_to_portal), d.notes]
            if not d.lines:
                writer.writerow([safe_cell(v) for v in head + ["", "", "", ""]])
            for line in d.lines:
                writer.writerow([safe_cell(v) for v in head + [
                    line.description, _number(line.quantity), _amount(line.unit_price), _number(line.vat_rate)]])
        yield _flush(out)
        db.session.expunge_all()


def failed_rows_csv(header: list[str], failures: Iterator) -> Iterator[str]:
    """The rows an import could not take, as they were read, after the row number, the
    column and the reason: fix them in a spreadsheet and import this file again (the
    three leading columns are ignored by the mapping's guess)."""
    out, writer = _writer()
    writer.writerow(["row", "error column", "error", *header])
    yield BOM + _flush(out)
    for count, failure in enumerate(failures, 1):
        for cells in failure.cells or [[]]:
            writer.writerow([safe_cell(v) for v in (failure.row, failure.column, failure.message, *cells)])
        if count % PAGE == 0:
            yield _flush(out)
    yield _flush(out)
