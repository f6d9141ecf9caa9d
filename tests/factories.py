"""Test data, built through the same services the app uses, committed so requests see it."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal


from models.customers import Customer, CustomerKind
from models.db import db
from models.documents import DocumentStatus
from models.services import documents as document_service
from models.services.passwords import hash_password
from models.staff import StaffRole, StaffUser
from models import clock

PASSWORD = "correct horse battery"
_app = None


def use_app(app) -> None:
    global _app
    _app = app


@contextmanager
def _saving():
    """Run in a short app context; the objects come back detached with their columns loaded."""
    with _app.app_context():
        created: list = []
        yield created
        db.session.commit()
        for obj in created:
            db.session.refresh(obj)
            db.session.expunge(obj)


def write_directly(statement, params=None):
    """A Core write behind the services' back (bulk test data, or what another process did
    to a row)."""
    return db.session.execute(statement, params)


_sequence = itertools.count(1)
_password_hash_cache: dict[str, str] = {}


def _hash(password: str) -> str:
    if password not in _password_hash_cache:
        _password_hash_cache[password] = hash_password(password)
    return _password_hash_cache[password]


def staff(role: str = "employee", email: str | None = None, name: str | None = None,
          password: str = PASSWORD, view_all: bool = False, active: bool = True) -> StaffUser:
    n = next(_sequence)
    with _saving() as created:
        user = StaffUser(
            email=email or f"staff{n}@example.test",
            name=name or f"Staff {n}",
            role=StaffRole(role),
            view_all_customers=view_all,
            active=active,
            language="en",
            password_hash=_hash(password),
        )
        db.session.add(user)
        created.append(user)
    return user


def customer(assigned_to: list[StaffUser] | None = None, **values) -> Customer:
    n = next(_sequence)
    defaults = dict(
        number=f"T{n:05d}", kind=CustomerKind.individual, name=f"Customer {n}",
        email=f"customer{n}@example.test", country="NL", language="nl",
    )
    defaults.update(values)
    defaults.setdefault("sort_key", (defaults.get("company_name") or defaults["name"]).casefold())
    with _saving() as created:
        record = Customer(**defaults)
        record.assigned_staff = [db.session.get(StaffUser, s.id) for s in assigned_to or []]
        db.session.add(record)
        created.append(record)
    return record


def invoice(customer: Customer, *, amount: str = "100.00", vat: str = "21", status: DocumentStatus = DocumentStatus.open,
            due_in_days: int = 14, issue_date: date | None = None, currency: str = "EUR", amount_paid: str = "0.00"):
    issue = issue_date or clock.today()
    with _saving() as created:
        document = _invoice(customer, issue, amount, vat, status, due_in_days, currency, amount_paid)
        created.append(document)
    return document


def _invoice(customer, issue, amount, vat, status, due_in_days, currency, amount_paid):
    document = document_service.create_invoice(
        None, customer,
        issue_date=issue, due_date=issue + timedelta(days=due_in_days) if due_in_days >= 0 else issue,
        currency=currency,
        lines=[document_service.LineInput("Work", Decimal("1"), Decimal(amount), Decimal(vat))],
        status=status, amount_paid=Decimal(amount_paid),
    )
    if due_in_days < 0:  # an overdue invoice: issued and due in the past
        document.issue_date = issue + timedelta(days=due_in_days - 14)
        document.due_date = issue + timedelta(days=due_in_days)
    return document


def document(customer: Customer, kind: str, *, amount: str = "100.00", vat: str = "21", issue_date: date | None = None,
             currency: str = "EUR", draft: bool = False, valid_days: int = 30, due_in_days: int = 14, **values):
    """A document of any kind made by `documents.create_document` (reminders and credit notes
    have their own factories below); `values` are set on it afterwards (a past date, …)."""
    from models.documents import DocumentKind

    issue = issue_date or clock.today()
    kind = DocumentKind(kind)
    with _saving() as created:
        record = document_service.create_document(
            None, customer, kind, issue_date=issue, currency=currency, draft=draft,
            due_date=issue + timedelta(days=due_in_days) if kind == DocumentKind.invoice else None,
            valid_until=issue + timedelta(days=valid_days) if kind == DocumentKind.quote else None,
            lines=[document_service.LineInput("Work", Decimal("1"), Decimal(amount), Decimal(vat))],
        )
        for name, value in values.items():
            setattr(record, name, value)
        created.append(record)
    return record


def credit_note(invoice, *, amount: str = "10.00", vat: str = "0", issue_date: date | None = None):
    from models.documents import Document
    from models.services import credit_notes

    with _saving() as created:
        record = credit_notes.create_credit_note(
            None, db.session.get(Document, invoice.id), issue_date=issue_date or clock.today(),
            lines=[document_service.LineInput("Credit", Decimal("1"), Decimal(amount), Decimal(vat))])
        created.append(record)
    return record


def reminder(customer: Customer, invoices: list, *, level: int = 1, fee: str = "0.00", interest: str = "0.00",
             issue_date: date | None = None):
    from models.documents import Document
    from models.services import reminders

    with _saving() as created:
        record = reminders.create_reminder(
            None, db.session.get(Customer, customer.id), [db.session.get(Document, i.id) for i in invoices],
            level=level, issue_date=issue_date or clock.today(), fee=Decimal(fee), interest=Decimal(interest))
        created.append(record)
    return record
