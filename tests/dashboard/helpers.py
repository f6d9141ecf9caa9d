"""Test data for the dashboard, dated against the business's calendar (models.clock), and
the page read as a person reads it: tables by their captions, rows by their headers."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import insert, update

from models import clock
from models.db import db, now_utc
from models.documents import Document, DocumentKind, DocumentStatus
from models.instalments import InstalmentPlan, PlanStatus
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.payments import Payment, PaymentStatus
from tests import factories

_keys = itertools.count(1)
AS_PAID = object()  # booked when it was paid


def today(app) -> date:
    with app.app_context():
        return clock.today()


def receivable(app, customer, amount: str, *, days_overdue: int | None, currency: str = "EUR",
               status: DocumentStatus = DocumentStatus.open, paid: str = "0.00",
               kind: DocumentKind = DocumentKind.invoice,
               **columns) -> Document:
    """A document of `amount` (no VAT) due `days_overdue` days ago (negative: due later; None: no due date)."""
    document = factories.invoice(customer, amount=amount, vat="0", currency=currency, status=status, amount_paid=paid)
    with app.app_context():
        due = None if days_overdue is None else clock.today() - timedelta(days=days_overdue)
        factories.write_directly(
            update(Document).where(Document.id == document.id).values(due_date=due, kind=kind, **columns)
        )
        db.session.commit()
    return document


def local_noon_utc(app, day: date) -> datetime:
    with app.app_context():
        return datetime.combine(day, time(12), tzinfo=clock.business_timezone()).astimezone(timezone.utc)


def payment(app, customer, amount: str, *, paid_at: datetime | None, booked_at: datetime | None = AS_PAID,
            currency: str = "EUR", provider: str = "mollie", reversed_at: datetime | None = None) -> None:
    """A payment as the providers' webhooks (or staff) leave it: booked once, when it was paid."""
    n = next(_keys)
    with app.app_context():
        factories.write_directly(insert(Payment.__table__).values(
            customer_id=customer.id, provider=provider, provider_ref=f"dash_{n}", idempotency_key=f"dash-key-{n}",
            amount=Decimal(amount), currency=currency, status=PaymentStatus.paid,
            paid_at=paid_at, booked_at=paid_at if booked_at is AS_PAID else booked_at, reversed_at=reversed_at,
            created_at=now_utc(),
        ))
        db.session.commit()


def plan(app, customer, *, status: PlanStatus = PlanStatus.pending, total: str = "300.00") -> None:
    with app.app_context():
        db.session.add(InstalmentPlan(customer_id=customer.id, status=status, total=Decimal(total), currency="EUR",
                                      count=3, start_date=clock.today()))
        db.session.commit()


def emails(app, customer, status: MailStatus, count: int = 1) -> None:
    with app.app_context():
        factories.write_directly(insert(OutboundEmail.__table__), [
            {"customer_id": customer.id, "category": MailCategory.invoice, "template": "invoice_issued",
             "status": status, "attempts": 1, "context": {}, "recipients_to": [], "recipients_cc": [], "refused": {},
             "last_error": "550 mailbox unavailable" if status == MailStatus.failed else None}
            for _ in range(count)
        ])
        db.session.commit()


# --- reading the page --------------------------------------------------------------------


def text(node) -> str:
    return " ".join(node.get_text().split())


def table(soup, caption: str):
    found = soup.find("caption", string=lambda s: s and s.strip() == caption)
    assert found is not None, f"no table captioned {caption!r}"
    return found.find_parent("table")


def table_rows(soup, caption: str) -> dict[str, dict[str, str]]:
    """{row header: {column header: cell}} of the table captioned `caption` (body and foot)."""
    found = table(soup, caption)
    columns = [text(cell) for cell in found.thead.find_all(["th", "td"])]
    rows = {}
    for tr in found.find_all("tr"):
        if tr.parent.name == "thead":
            continue
        cells = tr.find_all(["th", "td"])
        rows[text(cells[0])] = {columns[i]: text(cell) for i, cell in enumerate(cells) if i}
    return rows


def section(soup, heading: str):
    found = soup.find(["h2", "h3"], string=lambda s: s and s.strip() == heading)
    assert found is not None, f"no heading {heading!r}"
    return found.find_parent("section")
