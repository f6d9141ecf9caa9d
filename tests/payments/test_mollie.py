"""Mollie through mollie-api-python against a local server speaking Mollie's API.

Mollie's webhook says only "tr_… changed": the app asks Mollie and books what Mollie
answers, once, and only when amount and currency are what was asked.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update

from models.db import db, now_utc
from models.outbox import OutboundEmail
from models.payments import Payment, PaymentStatus
from tests import factories
from tests.conftest import TEST_CONFIG, soup_of
from tests.payments.conftest import (
    ENGLISH,
    MOLLIE_KEY,
    audit_actions,
    count,
    flashes,
    invoice_state,
    outbox_templates,
    pay,
    payments_of,
    start,
)

BASE_URL = TEST_CONFIG["BASE_URL"]


def webhook(client, payment_id: str):
    return client.post("/webhooks/mollie", data={"id": payment_id})


def test_pay_redirects_to_mollies_checkout_with_exact_amount_and_idempotency_key(app, client, debtor, mollie):
    response = start(client, debtor)
    sent = mollie.only()
    assert response.headers["Location"] == sent["_links"]["checkout"]["href"]
    assert sent["amount"] == {"currency": "EUR", "value": "321.00"}
    [payment] = payments_of(app, debtor.customer.id)
    assert payment.provider == "mollie" and payment.provider_ref == sent["id"]
    assert sent["webhookUrl"] == f"{BASE_URL}/webhooks/mollie"
    assert sent["redirectUrl"] == f"{BASE_URL}/d/{debtor.token}/pay/return/{payment.id}"
    assert sent["metadata"] == {"payment_id": str(payment.id)} and sent["locale"] == "en_US"
    assert sent["description"] == f"Invoices {debtor.invoices['open'].number}, {debtor.invoices['partial'].number}"
    [create] = [r for r in mollie.requests if r["method"] == "POST"]
    assert create["headers"]["Idempotency-Key"] == payment.idempotency_key
    assert create["headers"]["Authorization"] == f"Bearer {MOLLIE_KEY}"


def test_webhook_replayed_five_times_books_once(app, client, debtor, mollie):
    start(client, debtor)
    ref = mollie.only()["id"]
    assert webhook(client, ref).status_code == 200  # still open at Mollie: nothing
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))

    mollie.set(ref, "paid")
    for _ in range(5):
        assert webhook(client, ref).status_code == 200
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert invoice_state(app, debtor.invoices["partial"].id) == ("paid", Decimal("242.00"))
    assert outbox_templates(app, debtor.customer.id) == ["payment_received"]
    assert audit_actions(app) == ["payment.received"]
    [payment] = payments_of(app, debtor.customer.id)
    assert payment.status == PaymentStatus.paid and payment.booked_at is not None


def test_paid_then_failed_stays_paid(app, client, debtor, mollie):
    start(client, debtor, debtor.invoices["open"].id)
    ref = mollie.only()["id"]
    mollie.set(ref, "paid")
    webhook(client, ref)
    for late in ("failed", "expired", "canceled"):
        mollie.set(ref, late)
        assert webhook(client, ref).status_code == 200
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert payments_of(app, debtor.customer.id)[0].status == PaymentStatus.paid
    assert audit_actions(app) == ["payment.received"]


def test_failed_then_paid_ends_paid_once(app, client, debtor, mollie):
    start(client, debtor, debtor.invoices["open"].id)
    ref = mollie.only()["id"]
    mollie.set(ref, "failed")
    webhook(client, ref)
    assert payments_of(app, debtor.customer.id)[0].status == PaymentStatus.failed
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))
    mollie.set(ref, "paid")
    webhook(client, ref)
    webhook(client, ref)
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert outbox_templates(app, debtor.customer.id) == ["payment_received"]


def test_an_unknown_or_malformed_id_books_nothing(app, client, debtor, mollie):
    start(client, debtor)
    mollie.set(mollie.only()["id"], "paid")
    calls = len(mollie.requests)
    for body in ({"id": "tr_unknown123"}, {"id": "cs_test_123"}, {"id": ""}, {}, {"id": "x" * 5000}):
        response = client.post("/webhooks/mollie", data=body)
        assert response.status_code == 200 and response.data == b""
    assert len(mollie.requests) == calls  # ids we never created are not even looked up
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))
    assert count(app, OutboundEmail) == 0


def test_the_webhook_body_is_never_trusted(app, client, debtor, mollie):
    """A forged post claiming "paid" changes nothing: Mollie says the payment is open."""
    start(client, debtor)
    ref = mollie.only()["id"]
    response = client.post("/webhooks/mollie", data={"id": ref, "status": "paid", "amount": "321.00"})
    assert response.status_code == 200
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))


def test_amount_or_currency_mismatch_is_not_booked(app, client, debtor, mollie):
    start(client, debtor)
    ref = mollie.only()["id"]
    for value, currency in (("320.99", None), ("321.001", None), (None, "USD"), ("NaN", None)):
        mollie.set(ref, "paid", value=value or "321.00", currency=currency or "EUR")
        for _ in range(2):
            assert webhook(client, ref).status_code == 200
        assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))
    assert payments_of(app, debtor.customer.id)[0].booked_at is None
    assert outbox_templates(app, debtor.customer.id) == []
    assert audit_actions(app) == ["payment.mismatch"]  # staff see it, once
    mollie.set(ref, "paid", value="321.00", currency="EUR")  # what was asked: booked
    webhook(client, ref)
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))


def test_the_return_from_mollie_books_at_once(app, client, debtor, mollie):
    start(client, debtor, debtor.invoices["open"].id)
    ref = mollie.only()["id"]
    back = client.get(mollie.only()["redirectUrl"][len(BASE_URL):], headers=ENGLISH)  # not paid yet
    page = client.get(back.headers["Location"], headers=ENGLISH)
    assert flashes(page) == ["We have not received your payment yet. If you completed it, it will show here within a few minutes."]
    mollie.set(ref, "paid")
    back = client.get(mollie.only()["redirectUrl"][len(BASE_URL):], headers=ENGLISH)
    page = client.get(back.headers["Location"], headers=ENGLISH)
    assert flashes(page) == ["Payment received. Thank you!"]
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    webhook(client, ref)  # the webhook arriving afterwards books nothing more
    assert outbox_templates(app, debtor.customer.id) == ["payment_received"]


def test_mollie_down_when_starting_shows_a_message(app, client, debtor, mollie):
    mollie.fail_next = 10
    response = pay(client, debtor, "all")
    assert response.status_code == 502
    assert "could not be started" in soup_of(response).find(class_="alert-error").get_text()
    [payment] = payments_of(app, debtor.customer.id)
    assert payment.status == PaymentStatus.failed and payment.provider_ref is None
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))


def test_mollie_down_during_a_webhook_asks_mollie_to_retry(app, client, debtor, mollie):
    start(client, debtor)
    ref = mollie.only()["id"]
    mollie.set(ref, "paid")
    mollie.fail_next = 10
    assert webhook(client, ref).status_code == 503
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))
    mollie.fail_next = 0
    assert webhook(client, ref).status_code == 200
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))


def test_reconcile_books_a_payment_whose_webhook_never_came(app, client, debtor, stranger, mollie):
    start(client, debtor, debtor.invoices["open"].id)
    start(client, stranger, stranger.invoices["open"].id)
    mine, theirs = [p["id"] for p in mollie.payments.values()]
    mollie.set(mine, "paid")
    mollie.set(theirs, "paid")
    with app.app_context():  # the stranger's payment is older than the window
        factories.write_directly(update(Payment).where(Payment.provider_ref == theirs)
                           .values(created_at=now_utc() - timedelta(days=5)))
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["payments", "reconcile", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert "1 open payments checked, 1 booked, 0 could not be checked." in result.output
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert invoice_state(app, stranger.invoices["open"].id)[0] == "open"
    assert outbox_templates(app, debtor.customer.id) == ["payment_received"]

    again = app.test_cli_runner().invoke(args=["payments", "reconcile"])  # nothing open any more
    assert "0 open payments checked, 0 booked" in again.output
    wider = app.test_cli_runner().invoke(args=["payments", "reconcile", "--days", "7"])
    assert "1 open payments checked, 1 booked" in wider.output


def test_reconcile_reports_a_provider_it_cannot_reach(app, client, debtor, mollie):
    start(client, debtor)
    mollie.fail_next = 100
    result = app.test_cli_runner().invoke(args=["payments", "reconcile"])
    assert result.exit_code == 1
    assert "1 open payments checked, 0 booked, 1 could not be checked." in result.output


def test_concurrent_webhooks_book_once(app, debtor, mollie):
    """Eight deliveries of the same webhook at the same moment, each its own request and
    database connection: the conditional UPDATE lets exactly one of them book."""
    import threading

    client = app.test_client()
    start(client, debtor)
    ref = mollie.only()["id"]
    mollie.set(ref, "paid")
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def deliver():
        own = app.test_client()
        barrier.wait()
        statuses.append(webhook(own, ref).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert invoice_state(app, debtor.invoices["partial"].id) == ("paid", Decimal("242.00"))
    assert outbox_templates(app, debtor.customer.id) == ["payment_received"]
    assert audit_actions(app) == ["payment.received"]
