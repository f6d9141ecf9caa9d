"""Common writes on one customer, at the same moment, never deadlock (PostgreSQL only).

Adding a portal login with a new address and creating an invoice both touch the customer
and business-wide rows (the invoice number counter, the new login). A lock taken in a
different order by each would make PostgreSQL abort one with DeadlockDetected: a 500
for somebody. Here both run together, many times over; every request must succeed.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models.db import db
from models.documents import Document
from models.portal_access import PortalAccess
from models.settings import BusinessSettings
from tests import factories
from tests.concurrency import race, serve, staff_session
from models import clock

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:")),
    reason="needs PostgreSQL (set TEST_DATABASE_URL=postgresql://...): SQLite serialises all writers",
)

ROUNDS = 8
PAIRS = 4  # per round: this many login adds and this many invoice creations at once


def _invoice_form(n: int) -> dict:
    today = clock.today()
    return {
        "action": "save", "issue_date": today.isoformat(), "due_date": (today + timedelta(days=14)).isoformat(),
        "currency": "EUR", "lines-0-description": f"Racing work {n}", "lines-0-quantity": "1",
        "lines-0-unit_price": "100.00", "lines-0-vat_rate": "21",
    }


def test_adding_portal_logins_and_creating_invoices_together_never_deadlocks(app):
    with app.app_context():  # a real installation has its settings row: the business-wide one
        db.session.add(BusinessSettings(business_name="Racing Business"))
        db.session.commit()
    customers = [factories.customer(name=f"Race Customer {n}", email=f"race{n}@example.test") for n in range(2)]
    sessions = [staff_session(app, n, role="admin") for n in range(2 * PAIRS)]
    statuses: list[int] = []
    with serve(app) as port:
        for round_ in range(ROUNDS):
            posts = []
            for n in range(PAIRS):
                customer = customers[n % 2]
                posts.append((f"/admin/customers/{customer.id}/portal-logins",
                              {"action": "add", "add-email": f"login{round_}-{n}@example.com"}, sessions[n]))
                posts.append((f"/admin/customers/{customer.id}/invoices/new",
                              _invoice_form(round_ * PAIRS + n), sessions[PAIRS + n]))
            results = race(port, posts)
            assert all(status in (200, 302, 303) for status, _, _ in results), [r[:2] for r in results]
            statuses += [status for status, _, _ in results]
    assert len(statuses) == 2 * PAIRS * ROUNDS
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PortalAccess)) == PAIRS * ROUNDS
        numbers = db.session.scalars(select(Document.number)).all()
    assert len(numbers) == len(set(numbers)) == PAIRS * ROUNDS  # gap-free numbering held, too
