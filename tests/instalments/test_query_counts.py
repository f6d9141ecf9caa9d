"""The customer Overview's "Questions and instalment plans" costs two statements, and the
dossier page's plan one or two, however many questions, plans and instalments there are."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from models.db import db, now_utc
from models.documents import Document
from models.instalments import Instalment, InstalmentPlan, PlanStatus
from models.questions import DocumentMessage
from tests import factories
from tests.conftest import count_queries
from tests.questions.helpers import dossier_path, get
from models import clock


def _seed(app, customer, invoices: list, plans: int) -> None:
    """A question waiting on every invoice, `plans` ended plans and one running, each
    with 12 instalments, bulk inserted."""
    now = now_utc()
    with app.app_context():
        for n, invoice in enumerate(invoices):
            db.session.get(Document, invoice.id).awaiting_answer_since = now - timedelta(hours=n)
        factories.write_directly(insert(DocumentMessage.__table__), [
            {"document_id": i.id, "customer_id": customer.id, "author_kind": "customer", "body": f"Q{n}",
             "created_at": now} for n, i in enumerate(invoices)
        ])
        for n in range(plans + 1):
            plan = InstalmentPlan(customer_id=customer.id, status=PlanStatus.active if n == plans else PlanStatus.cancelled,
                                  total=Decimal("1200.00"), currency="EUR", count=12, start_date=clock.today())
            plan.instalments = [Instalment(position=p, due_date=clock.today() + timedelta(days=30 * p),
                                           amount=Decimal("100.00")) for p in range(1, 13)]
            plan.documents = [db.session.get(Document, invoices[0].id)]
            db.session.add(plan)
        db.session.commit()


def _count(app, client, path: str) -> int:
    """Statements of one request, after a warm-up."""
    client.get(path)
    with count_queries(app) as statements:
        response = client.get(path)
    assert response.status_code == 200
    return len(statements)


@pytest.mark.parametrize("size", [1, 30])
def test_the_overview_slot_does_not_grow_with_questions_and_plans(app, client, owner_client, size):
    customer = factories.customer(language="en")
    empty = factories.customer(language="en")
    invoices = [factories.invoice(customer, amount="10.00") for _ in range(size)]
    _seed(app, customer, invoices, plans=size)
    soup = owner_client.soup(f"/admin/customers/{customer.id}")
    assert len(soup.find(id="unanswered-h").find_next_sibling("ul").find_all("li")) == min(size, 20)
    assert len(soup.find(id="plans-h").find_parent("section").find_all("article")) == min(size + 1, 5)
    baseline = _count(app, owner_client, f"/admin/customers/{empty.id}")
    assert _count(app, owner_client, f"/admin/customers/{customer.id}") == baseline

    # The dossier page: the running plan and its instalments (2 statements, only when a plan
    # runs: the page's first statement says whether one does), whatever its size.
    path = dossier_path(app, customer)
    page = get(client, path)
    assert len(page.find(id="instalments-h").find_parent("section").find("tbody").find_all("tr")) == 12
    without_plan = dossier_path(app, empty)
    factories.invoice(empty, amount="10.00")
    assert _count(app, client, path) == _count(app, client, without_plan) + 2
