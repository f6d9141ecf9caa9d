"""The dashboard costs the same number of SQL statements with 10 or 1,000 customers,
documents, payments, plans and failed e-mails (the pattern of tests/admin/test_query_counts.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from models.customers import Customer, customer_assignments
from models.db import db, now_utc
from models.documents import Document
from models.instalments import InstalmentPlan, PlanStatus
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.payments import Payment, PaymentStatus
from models.services import demo
from tests import factories
from tests.admin.test_query_counts import _count
from tests.conftest import StaffClient, login
from tests.dashboard.helpers import table_rows

# staff member, settings (the default currency), the five attention counts, outstanding per
# currency and ageing bucket, payments per week and currency, the pending plans shown, the
# customers with failed e-mails shown
PINNED = 7


def _seed(app, size: int, employee) -> None:
    with app.app_context():
        demo.seed(customers=size, invoices=size)
        db.session.commit()
        customer_ids = list(db.session.scalars(select(Customer.id).order_by(Customer.id)))
        assert len(customer_ids) == size
        assert db.session.scalar(select(func.count()).select_from(Document)) >= size
        now = now_utc()
        factories.write_directly(insert(Payment.__table__), [
            {"customer_id": cid, "provider": "mollie", "provider_ref": f"q{n}", "idempotency_key": f"q-{n}",
             "amount": Decimal("12.34"), "currency": "EUR" if n % 3 else "USD", "status": PaymentStatus.paid,
             "paid_at": now - timedelta(days=n % 84), "booked_at": now - timedelta(days=n % 84), "created_at": now}
            for n, cid in enumerate(customer_ids)
        ])
        factories.write_directly(insert(InstalmentPlan.__table__), [
            {"customer_id": cid, "status": PlanStatus.pending if n % 3 == 0 else PlanStatus.active,
             "total": Decimal("300.00"), "currency": "EUR", "count": 3, "start_date": now.date(), "created_at": now}
            for n, cid in enumerate(customer_ids)
        ])
        factories.write_directly(insert(OutboundEmail.__table__), [
            {"customer_id": cid, "category": MailCategory.invoice, "template": "invoice_issued",
             "status": MailStatus.failed if n % 3 == 0 else MailStatus.sent, "attempts": 1, "context": {},
             "recipients_to": [], "recipients_cc": [], "refused": {}, "created_at": now - timedelta(minutes=n)}
            for n, cid in enumerate(customer_ids)
        ])
        factories.write_directly(insert(customer_assignments), [
            {"customer_id": cid, "staff_user_id": employee.id} for cid in customer_ids[::2]
        ])
        db.session.commit()


@pytest.mark.parametrize("size", [10, 1000])
def test_dashboard_query_count_does_not_grow_with_the_data(app, owner_client, employee, size):
    _seed(app, size, employee)
    employee_client = StaffClient(login(app.test_client(), employee), employee)
    for client in (owner_client, employee_client):
        soup = client.soup("/admin/")
        # the page really shows the data it is measured with
        assert table_rows(soup, "Outstanding and overdue per currency")
        assert sum(int(week["Payments"]) for week in table_rows(soup, "Payments received per week").values()) > 0
        assert soup.find(id="pending-plans-h").find_next("ul").find_all("li")
        assert soup.find(id="failed-mail-h").find_next("ul").find_all("li")
    assert {"owner": _count(app, owner_client, "/admin/"), "employee": _count(app, employee_client, "/admin/")} == {
        "owner": PINNED, "employee": PINNED,
    }
