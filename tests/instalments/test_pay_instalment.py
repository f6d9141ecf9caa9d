"""Paying an agreed instalment when it is due, from the dossier link and from the login: each
due, unpaid instalment of the active plan has a "Pay <amount>" button; paying it starts one
payment of exactly that amount, spread over the plan's invoices oldest due first (never more
than each has outstanding); booking it marks the instalment paid. Not due yet, paid already,
in a payment already started, or another customer's: refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from models import clock
from models.db import db
from models.documents import Document
from models.instalments import Instalment, InstalmentPlan, PlanStatus
from models.payments import Payment, PaymentStatus
from models.services import instalments
from tests import factories
from tests.conftest import csrf_token, soup_of
from tests.payments.test_test_provider import checkout
from tests.portal.test_customer_place import WAYS, open_place

ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
def plan(app):
    """€48.40 (the older invoice) + €121.00 = €169.40 in 3 instalments of €56.46, €56.46 and
    €56.48: the first due a month ago, the second today, the third next month."""
    customer = factories.customer(name="Ida Instalment", language="en", email="ida@example.test")
    older = factories.invoice(customer, amount="40.00", due_in_days=-10)
    newer = factories.invoice(customer, amount="100.00", due_in_days=14)
    with app.app_context():
        today = clock.today()
        start = instalments.add_months(today, -1)
        record = InstalmentPlan(customer_id=customer.id, status=PlanStatus.active, total=Decimal("169.40"),
                                currency="EUR", count=3, start_date=start)
        record.documents = list(db.session.scalars(select(Document).where(Document.id.in_([older.id, newer.id]))))
        record.instalments = [Instalment(position=s.position, due_date=s.due_date, amount=s.amount)
                              for s in instalments.schedule(Decimal("169.40"), 3, start)]
        db.session.add(record)
        db.session.commit()
        ids = [i.id for i in record.instalments]
    return customer, older, newer, ids


def rows(soup) -> list[list[str]]:
    section = soup.find("h2", string="Your instalment plan").find_parent("section")
    return [[td.get_text(" ", strip=True) for td in tr.find_all("td")]
            for tr in section.find("table").tbody.find_all("tr")]


def pay_instalment(visit, instalment_id: int):
    data = {"csrf_token": csrf_token(visit.client, "/portal/login"), "instalment": str(instalment_id)}
    return visit.client.post(visit.url("/instalments/pay"), data=data, headers=ENGLISH)


def invoice_state(app, document) -> tuple[str, Decimal]:
    with app.app_context():
        record = db.session.get(Document, document.id)
        return record.status.value, record.amount_paid


def paid_at(app, instalment_id: int):
    with app.app_context():
        return db.session.get(Instalment, instalment_id).paid_at


def payments_of(app, customer) -> list[Payment]:
    with app.app_context():
        found = list(db.session.scalars(select(Payment).where(Payment.customer_id == customer.id).order_by(Payment.id)))
        for payment in found:
            _ = payment.items
            db.session.expunge(payment)
        return found


@pytest.mark.parametrize("way", WAYS)
def test_due_instalments_are_paid_exactly_and_marked_paid(app, plan, way):
    customer, older, newer, (first, second, third) = plan
    visit = open_place(app, customer, way)
    soup = visit.soup("/instalments")
    buttons = [b.get_text(" ", strip=True) for b in soup.find_all("button", string=lambda s: s and s.startswith("Pay "))]
    assert buttons == ["Pay €56.46", "Pay €56.46"]  # the first two are due, the third is not
    assert rows(soup)[2][3] == ""

    page = checkout(visit.client, pay_instalment(visit, first), "success")
    assert "Payment received. Thank you!" in page.get_data(as_text=True)
    [payment] = payments_of(app, customer)
    assert (payment.status, payment.amount, payment.instalment_id) == (PaymentStatus.paid, Decimal("56.46"), first)
    # Oldest due first, never more than an invoice has outstanding.
    assert sorted((i.document_id, i.amount) for i in payment.items) == [(older.id, Decimal("48.40")),
                                                                          (newer.id, Decimal("8.06"))]
    assert invoice_state(app, older) == ("paid", Decimal("48.40"))
    assert invoice_state(app, newer) == ("partially_paid", Decimal("8.06"))
    assert paid_at(app, first) is not None and paid_at(app, second) is None

    soup = visit.soup("/instalments")
    table = rows(soup)
    assert table[0][3].startswith("Paid on ")
    assert table[1][3] == "Pay €56.46"
    assert [b.get_text(" ", strip=True) for b in soup.find_all("button", string=lambda s: s and s.startswith("Pay "))] == ["Pay €56.46"]

    # Paid already: refused, nothing started.
    again = pay_instalment(visit, first)
    assert again.status_code == 422
    assert "This instalment has already been paid." in again.get_data(as_text=True)
    # Not due yet: refused.
    early = pay_instalment(visit, third)
    assert early.status_code == 422
    assert "This instalment is not due yet" in early.get_data(as_text=True)
    assert len(payments_of(app, customer)) == 1

    checkout(visit.client, pay_instalment(visit, second), "success")
    assert invoice_state(app, newer) == ("partially_paid", Decimal("64.52"))
    assert paid_at(app, second) is not None and paid_at(app, third) is None
    assert [p.amount for p in payments_of(app, customer)] == [Decimal("56.46"), Decimal("56.46")]


@pytest.mark.parametrize("way", WAYS)
def test_an_instalment_in_a_started_payment_is_not_paid_twice(app, plan, way):
    customer, older, newer, (first, *_rest) = plan
    visit = open_place(app, customer, way)
    started = pay_instalment(visit, first)
    assert started.status_code == 303
    second_click = pay_instalment(visit, first)
    assert second_click.status_code == 409
    assert "A payment you started already covers this." in second_click.get_data(as_text=True)
    assert len(payments_of(app, customer)) == 1
    assert paid_at(app, first) is None
    [payment] = payments_of(app, customer)
    assert (payment.status, payment.instalment_id) == (PaymentStatus.open, first)


def test_pay_all_in_a_live_payment_blocks_the_instalment(app, plan):
    """An open "Pay all" of the plan's invoices covers them too: no second payment of that money."""
    customer, older, newer, (first, *_rest) = plan
    visit = open_place(app, customer, "link")
    data = {"csrf_token": csrf_token(visit.client, "/portal/login"), "invoice": "all"}
    assert visit.client.post(visit.url("/pay"), data=data, headers=ENGLISH).status_code == 303
    refused = pay_instalment(visit, first)
    assert refused.status_code == 409
    assert len(payments_of(app, customer)) == 1


@pytest.mark.parametrize("way", WAYS)
def test_another_customers_instalment_is_404(app, plan, way):
    _customer, _older, _newer, (first, *_rest) = plan
    other = factories.customer(name="Otto Other", language="en", email="otto@example.test")
    factories.invoice(other, amount="10.00")
    visit = open_place(app, other, way, email="otto.login@example.com")
    assert pay_instalment(visit, first).status_code == 404
    assert pay_instalment(visit, 2147483647).status_code == 404
    assert pay_instalment(visit, "x").status_code == 422
    assert payments_of(app, other) == []


def test_pending_plan_has_no_pay_buttons_and_refuses(app, plan):
    customer, _older, _newer, (first, *_rest) = plan
    with app.app_context():
        record = db.session.scalar(select(InstalmentPlan).where(InstalmentPlan.customer_id == customer.id))
        record.status = PlanStatus.pending
        db.session.commit()
    visit = open_place(app, customer, "link")
    soup = visit.soup("/instalments")
    assert not soup.find("button", string=lambda s: s and s.startswith("Pay €"))
    refused = pay_instalment(visit, first)
    assert refused.status_code == 422
    assert "not active" in refused.get_data(as_text=True)
