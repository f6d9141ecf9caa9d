"""Stripe Checkout through the `stripe` library against a local server speaking Stripe's
API. Webhooks are booked only with a valid signature; create calls carry an idempotency key."""

from __future__ import annotations

from decimal import Decimal

from models.outbox import OutboundEmail
from models.payments import PaymentStatus
from tests.conftest import TEST_CONFIG
from tests.payments.conftest import (
    ENGLISH,
    STRIPE_KEY,
    audit_actions,
    count,
    flashes,
    invoice_state,
    outbox_templates,
    payments_of,
    start,
    signed_event,
)

BASE_URL = TEST_CONFIG["BASE_URL"]


def post_event(client, session, event_type="checkout.session.completed", **kwargs):
    payload, headers = signed_event(session, event_type, **kwargs)
    return client.post("/webhooks/stripe", data=payload, headers=headers)


def test_pay_creates_a_checkout_session_with_an_idempotency_key(app, client, debtor, stripe_api):
    response = start(client, debtor)
    session = stripe_api.only()
    assert response.headers["Location"] == session["url"]
    assert (session["amount_total"], session["currency"], session["mode"]) == (32100, "eur", "payment")
    [payment] = payments_of(app, debtor.customer.id)
    assert payment.provider_ref == session["id"] and payment.checkout_url == session["url"]
    assert session["success_url"] == session["cancel_url"] == f"{BASE_URL}/d/{debtor.token}/pay/return/{payment.id}"
    assert session["client_reference_id"] == str(payment.id) and session["metadata"] == {"payment_id": str(payment.id)}
    [create] = [r for r in stripe_api.requests if r["method"] == "POST"]
    assert create["headers"]["Idempotency-Key"] == payment.idempotency_key
    assert create["headers"]["Authorization"] == f"Bearer {STRIPE_KEY}"


def test_signed_webhook_replayed_five_times_books_once(app, client, debtor, stripe_api):
    start(client, debtor)
    session = stripe_api.only()
    stripe_api.complete(session["id"])
    for _ in range(5):
        response = post_event(client, stripe_api.only())
        assert response.status_code == 200
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert invoice_state(app, debtor.invoices["partial"].id) == ("paid", Decimal("242.00"))
    assert outbox_templates(app, debtor.customer.id) == ["payment_received"]
    assert audit_actions(app) == ["payment.received"]


def test_bad_signature_is_401_and_books_nothing(app, client, debtor, stripe_api):
    start(client, debtor)
    stripe_api.complete(stripe_api.only()["id"])
    payload, headers = signed_event(stripe_api.only(), secret="whsec_someone_else")
    assert client.post("/webhooks/stripe", data=payload, headers=headers).status_code == 401
    assert client.post("/webhooks/stripe", data=payload, headers={"Content-Type": "application/json"}).status_code == 401
    good_payload, good_headers = signed_event(stripe_api.only())
    tampered = good_payload.replace('"amount_total": 32100', '"amount_total": 1')
    assert client.post("/webhooks/stripe", data=tampered, headers=good_headers).status_code == 401
    assert client.post("/webhooks/stripe", data=good_payload,
                       headers={"Stripe-Signature": "t=notanumber,v1=zz"}).status_code == 401
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))
    assert count(app, OutboundEmail) == 0 and audit_actions(app) == []


def test_paid_then_failed_stays_paid_and_failed_then_paid_books_once(app, client, debtor, stripe_api):
    start(client, debtor, debtor.invoices["open"].id)
    session = stripe_api.only()
    # failed (async payment), then paid
    assert post_event(client, session, "checkout.session.async_payment_failed", status="complete").status_code == 200
    assert payments_of(app, debtor.customer.id)[0].status == PaymentStatus.failed
    stripe_api.complete(session["id"])
    post_event(client, stripe_api.only(), "checkout.session.async_payment_succeeded")
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    # then late failures and expiries
    post_event(client, session, "checkout.session.async_payment_failed", status="complete", payment_status="unpaid")
    post_event(client, session, "checkout.session.expired", status="expired")
    post_event(client, stripe_api.only())
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert payments_of(app, debtor.customer.id)[0].status == PaymentStatus.paid
    assert outbox_templates(app, debtor.customer.id) == ["payment_received"]


def test_amount_or_currency_mismatch_is_not_booked(app, client, debtor, stripe_api):
    start(client, debtor)
    stripe_api.complete(stripe_api.only()["id"])
    for changes in ({"amount_total": 32099}, {"currency": "usd"}, {"amount_total": None}, {"amount_total": "32100"}):
        assert post_event(client, stripe_api.only(), **changes).status_code == 200
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))
    assert audit_actions(app) == ["payment.mismatch"]


def test_unknown_sessions_and_other_events_are_ignored(app, client, debtor, stripe_api):
    start(client, debtor)
    stripe_api.complete(stripe_api.only()["id"])
    other = {**stripe_api.only(), "id": "cs_test_not_ours"}
    assert post_event(client, other).status_code == 200
    assert post_event(client, stripe_api.only(), "customer.created").status_code == 200
    payload, headers = signed_event(stripe_api.only())
    broken = "[1, 2, 3]"
    import stripe

    broken_headers = {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(broken, "whsec_dossier_test_secret")}
    assert client.post("/webhooks/stripe", data=broken, headers=broken_headers).status_code == 400
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))


def test_stripe_without_keys_has_no_webhook(app, client, monkeypatch, stripe_api):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", "")
    payload, headers = signed_event({"id": "cs_test_x", "object": "checkout.session"})
    assert client.post("/webhooks/stripe", data=payload, headers=headers).status_code == 404
    assert client.post("/webhooks/paypal", data=payload, headers=headers).status_code == 404
    assert client.post("/webhooks/test", data={}).status_code == 404


def test_return_and_reconcile_retrieve_the_session(app, client, debtor, stranger, stripe_api):
    start(client, debtor, debtor.invoices["open"].id)
    start(client, stranger)
    mine, theirs = stripe_api.sessions.values()
    stripe_api.complete(mine["id"])
    back = client.get(mine["success_url"][len(BASE_URL):], headers=ENGLISH)
    assert flashes(client.get(back.headers["Location"], headers=ENGLISH)) == ["Payment received. Thank you!"]
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))

    stripe_api.complete(theirs["id"])  # paid, but its webhook never came
    result = app.test_cli_runner().invoke(args=["payments", "reconcile"])
    assert "1 open payments checked, 1 booked, 0 could not be checked." in result.output, result.output
    assert invoice_state(app, stranger.invoices["open"].id) == ("paid", Decimal("1208.79"))
    assert outbox_templates(app, stranger.customer.id) == ["payment_received"]
