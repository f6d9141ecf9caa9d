"""Money is never booked twice: a payment starts only for what is still outstanding and
not already in a live payment (open, not failed, expired or cancelled), and a completed
payment for an invoice that is already settled becomes a customer credit staff can see,
never a negative outstanding amount.

Pay one invoice plus Pay all, two tabs, a double click; on PostgreSQL also fifty clicks
at the same moment through a real threaded HTTP server.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from models.db import db, now_utc
from models.payments import Payment, PaymentItem, PaymentStatus
from tests.concurrency import race, serve
from tests.conftest import soup_of
from tests.payments.conftest import (
    ENGLISH,
    Debtor,
    audit_actions,
    invoice_state,
    open_page,
    outbox_templates,
    page_token,
    pay,
    payments_of,
    start,
)
from tests.payments.test_mollie import webhook
from tests.payments.test_test_provider import checkout

ALREADY_STARTED = "A payment you started already covers this. Continue it, or cancel it there and start again."


def covered(app, customer_id: int) -> dict[int, Decimal]:
    """Per invoice: what the payments that are not failed, expired or cancelled cover."""
    totals: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for payment in payments_of(app, customer_id):
        if payment.status in (PaymentStatus.open, PaymentStatus.paid):
            for item in payment.items:
                totals[item.document_id] += item.amount
    return dict(totals)


def age(app, payment_id: int, days: int = 2) -> None:
    """An abandoned checkout: started long ago, never heard of since."""
    with app.app_context():
        db.session.execute(update(Payment).where(Payment.id == payment_id)
                           .values(created_at=now_utc() - timedelta(days=days)))
        db.session.commit()


def credit_on_overview(owner_client, customer_id: int) -> str | None:
    soup = owner_client.soup(f"/admin/customers/{customer_id}")
    heading = soup.find(id="customer-credit")
    return heading.find_parent("section").get_text(" ", strip=True) if heading else None


# --- starting: only what is not already in a live payment ---------------------------------


def test_pay_one_then_pay_all_covers_each_invoice_once(app, client, debtor: Debtor):
    """Two tabs: Pay on one invoice, then Pay all in the other. Both completed."""
    one = pay(client, debtor, debtor.invoices["open"].id)
    everything = pay(client, debtor, "all")
    assert one.status_code == everything.status_code == 303
    assert one.headers["Location"] != everything.headers["Location"]
    first, second = payments_of(app, debtor.customer.id)
    assert [(i.document_id, i.amount) for i in second.items] == [(debtor.invoices["partial"].id, Decimal("200.00"))]
    assert second.amount == Decimal("200.00")
    assert covered(app, debtor.customer.id) == {debtor.invoices["open"].id: Decimal("121.00"),
                                                 debtor.invoices["partial"].id: Decimal("200.00")}

    # The second checkout says what it is for: only the invoice not yet being paid.
    page = soup_of(client.get(everything.headers["Location"], headers=ENGLISH))
    assert "€200.00" in page.find("dl").get_text(" ", strip=True)
    assert debtor.invoices["open"].number not in page.find("dl").get_text()

    checkout(client, pay(client, debtor, debtor.invoices["open"].id), "success")  # back to the first
    checkout(client, everything, "success")
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert invoice_state(app, debtor.invoices["partial"].id) == ("paid", Decimal("242.00"))
    assert audit_actions(app) == ["payment.received", "payment.received"]


def test_pay_all_then_pay_one_sends_the_debtor_to_the_payment_already_started(app, client, debtor: Debtor):
    everything = pay(client, debtor, "all")
    assert everything.status_code == 303
    response = pay(client, debtor, debtor.invoices["open"].id)
    assert response.status_code == 409
    soup = soup_of(response)
    assert soup.find(class_="alert-error").get_text(" ", strip=True) == ALREADY_STARTED
    link = soup.find("a", string="Continue the payment of €321.00")
    assert link is not None and link["href"] == everything.headers["Location"]
    assert len(payments_of(app, debtor.customer.id)) == 1

    # The link is that payment's checkout: paying there pays both invoices, once.
    page = soup_of(client.get(link["href"], headers=ENGLISH))
    assert "€321.00" in page.find("dl").get_text(" ", strip=True)
    form = page.find("button", string="Success: pay").find_parent("form")
    done = client.post(form["action"], data={i["name"]: i.get("value", "") for i in form.find_all("input")})
    assert done.status_code == 303
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert invoice_state(app, debtor.invoices["partial"].id) == ("paid", Decimal("242.00"))


def test_a_double_click_on_pay_all_is_one_payment(app, client, debtor: Debtor):
    first = pay(client, debtor, "all")
    second = pay(client, debtor, "all")
    assert first.headers["Location"] == second.headers["Location"]
    [payment] = payments_of(app, debtor.customer.id)
    assert payment.amount == Decimal("321.00")


def test_a_cancelled_payment_no_longer_covers_anything(app, client, debtor: Debtor):
    checkout(client, pay(client, debtor, "all"), "cancel")
    again = pay(client, debtor, debtor.invoices["open"].id)
    assert again.status_code == 303
    assert [p.status for p in payments_of(app, debtor.customer.id)] == [PaymentStatus.canceled, PaymentStatus.open]
    assert payments_of(app, debtor.customer.id)[-1].amount == Decimal("121.00")


def test_an_abandoned_checkout_stops_covering_after_a_day(app, client, debtor: Debtor):
    pay(client, debtor, debtor.invoices["open"].id)
    [abandoned] = payments_of(app, debtor.customer.id)
    age(app, abandoned.id)
    response = pay(client, debtor, debtor.invoices["open"].id)
    assert response.status_code == 303
    assert len(payments_of(app, debtor.customer.id)) == 2


# --- booking: a second completed payment becomes a visible credit -----------------------------


def test_two_paid_checkouts_for_one_invoice_book_it_once_and_the_rest_is_credit(app, client, owner_client,
                                                                                  debtor: Debtor, mollie):
    """Two Mollie checkouts for one invoice (the first abandoned, then paid after all) whose
    webhooks both report paid: the invoice is paid once, the second payment is credit."""
    invoice = debtor.invoices["open"]
    start(client, debtor, invoice.id)
    [first] = payments_of(app, debtor.customer.id)
    age(app, first.id)
    start(client, debtor, invoice.id)
    refs = [p.provider_ref for p in payments_of(app, debtor.customer.id)]
    assert len(set(refs)) == 2
    for ref in refs:
        mollie.set(ref, "paid")
        assert webhook(client, ref).status_code == 200

    assert invoice_state(app, invoice.id) == ("paid", Decimal("121.00"))  # never a negative outstanding amount
    assert [p.status for p in payments_of(app, debtor.customer.id)] == [PaymentStatus.paid, PaymentStatus.paid]
    assert audit_actions(app) == ["payment.received", "payment.received", "payment.overpaid"]
    assert outbox_templates(app, debtor.customer.id) == ["payment_received", "payment_received"]

    text = credit_on_overview(owner_client, debtor.customer.id)
    assert text is not None and "Credit: €121.00" in text
    assert "more than was due" in text
    # The Info tab's history names it for staff.
    history = owner_client.soup(f"/admin/customers/{debtor.customer.id}/info").get_text(" ", strip=True)
    assert "Payment exceeded what was due: credit for the customer" in history


def test_a_paid_pay_all_and_a_paid_pay_one_for_the_same_invoice(app, client, owner_client, debtor: Debtor):
    """The Pay-all payment arrives after the single invoice was paid: the other invoice is
    paid from it and only the double part becomes credit."""
    pay(client, debtor, "all")
    [everything] = payments_of(app, debtor.customer.id)
    age(app, everything.id)
    checkout(client, pay(client, debtor, debtor.invoices["open"].id), "success")
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    # The abandoned Pay-all checkout is paid after all.
    done = client.post(f"{debtor.url}/pay/test/{everything.id}",
                       data={"csrf_token": page_token(open_page(client, debtor)), "outcome": "success"})
    assert done.status_code == 303
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert invoice_state(app, debtor.invoices["partial"].id) == ("paid", Decimal("242.00"))
    assert "Credit: €121.00" in credit_on_overview(owner_client, debtor.customer.id)


def test_no_credit_section_without_credit(app, client, owner_client, debtor: Debtor):
    checkout(client, pay(client, debtor, "all"), "success")
    assert credit_on_overview(owner_client, debtor.customer.id) is None


# --- PostgreSQL: fifty clicks at the same moment ----------------------------------------------------

on_postgres = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:")),
    reason="needs PostgreSQL (set TEST_DATABASE_URL=postgresql://...): SQLite serialises all writers",
)


@on_postgres
def test_fifty_parallel_pay_clicks_never_cover_more_than_is_outstanding(app, debtor: Debtor, monkeypatch):
    monkeypatch.setitem(app.config, "DOSSIER_LIMIT_PER_IP", "100000 per minute")
    client = app.test_client()
    token = page_token(open_page(client, debtor))  # the Pay form's hidden csrf_token
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    session = (f"{cookie_name}={client.get_cookie(cookie_name).value}", token)
    choices = [str(debtor.invoices["open"].id), "all", str(debtor.invoices["partial"].id)]
    with serve(app) as port:
        for _ in range(2):  # the second round finds everything covered already
            results = race(port, [(f"{debtor.url}/pay", {"invoice": choices[n % 3]}, session) for n in range(50)])
            assert all(status in (303, 409) for status, _, _ in results), [r[:2] for r in results]
    outstanding = {debtor.invoices["open"].id: Decimal("121.00"), debtor.invoices["partial"].id: Decimal("200.00")}
    totals = covered(app, debtor.customer.id)
    assert totals == outstanding, totals  # each invoice exactly once: covered, never more
    with app.app_context():
        items = db.session.execute(select(PaymentItem.document_id, PaymentItem.amount)).all()
    assert sum(amount for _, amount in items) == Decimal("321.00")
