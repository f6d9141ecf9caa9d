"""Payments: real Mollie and Stripe client libraries talking to local HTTP servers that
speak the part of each API the app uses, in this process, on 127.0.0.1. No network, no
mocks of our code: the app sends real requests and reads real responses.

Mail is not sent here (the outbox row is what the booking writes); Redis points at a
closed port so nothing from these tests can land on a developer's queue.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import stripe
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from models.audit import AuditEvent
from models.db import db
from models.documents import Document
from models.outbox import OutboundEmail
from models.payments import Payment
from models.services import dossier
from models.services.settings import get_settings
from tests import factories
from tests.conftest import csrf_token, soup_of

ENGLISH = {"Accept-Language": "en"}
MOLLIE_KEY = "test_dossierFakeMollieKey123"
STRIPE_KEY = "sk_test_dossierFakeStripeKey"
STRIPE_WEBHOOK_SECRET = "whsec_dossier_test_secret"


# --- local provider servers -----------------------------------------------------------------


class _Server:
    """A WSGI app served on 127.0.0.1 in a thread; `requests` records what the app sent."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_next: int = 0  # answer the next N calls with a 500
        self._http = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self._http.server_port}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.requests.append({"method": request.method, "path": request.path, "headers": dict(request.headers),
                              "body": request.get_data(as_text=True)})
        if self.fail_next:
            self.fail_next -= 1
            response = self.error(500, "internal error")
        else:
            response = self.handle(request)
        return response(environ, start_response)

    def stop(self):
        self._http.shutdown()


class FakeMollie(_Server):
    """POST /v2/payments and GET /v2/payments/<id>, as https://api.mollie.com answers them."""

    def reset(self):
        self.payments: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.requests.clear()
        self.fail_next = 0

    def error(self, status: int, detail: str) -> Response:
        body = {"status": status, "title": "Error", "detail": detail}
        return Response(json.dumps(body), status=status, content_type="application/hal+json")

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {MOLLIE_KEY}":
            return self.error(401, "Missing authentication, or failed to authenticate")
        if request.method == "POST" and request.path == "/v2/payments":
            key = request.headers.get("Idempotency-Key", "")
            if key and key in self.by_key:
                return self._answer(self.payments[self.by_key[key]], 201)
            data = json.loads(request.get_data(as_text=True))
            payment_id = "tr_" + secrets.token_hex(5)
            self.payments[payment_id] = {
                "resource": "payment", "id": payment_id, "mode": "test", "status": "open",
                "amount": data["amount"], "description": data["description"], "redirectUrl": data.get("redirectUrl"),
                "webhookUrl": data.get("webhookUrl"), "metadata": data.get("metadata"), "locale": data.get("locale"),
                "createdAt": "2026-11-23T10:00:00+00:00",
                "_links": {"checkout": {"href": f"https://www.mollie.test/checkout/select-method/{payment_id}",
                                        "type": "text/html"}},
            }
            if key:
                self.by_key[key] = payment_id
            return self._answer(self.payments[payment_id], 201)
        if request.method == "GET" and request.path.startswith("/v2/payments/"):
            payment = self.payments.get(request.path.rsplit("/", 1)[1])
            if payment is None:
                return self.error(404, "No payment exists with token")
            return self._answer(payment, 200)
        return self.error(404, "Unknown endpoint")

    def _answer(self, payment: dict, status: int) -> Response:
        return Response(json.dumps(payment), status=status, content_type="application/hal+json")

    def set(self, payment_id: str, status: str, *, value: str | None = None, currency: str | None = None):
        """What the debtor did at Mollie (or what a faulty/forged report would claim)."""
        payment = self.payments[payment_id]
        payment["status"] = status
        if status == "paid":
            payment["paidAt"] = "2026-11-23T10:05:00+00:00"
        if value is not None or currency is not None:
            payment["amount"] = {"value": value or payment["amount"]["value"],
                                 "currency": currency or payment["amount"]["currency"]}

    def only(self) -> dict:
        assert len(self.payments) == 1, self.payments
        return next(iter(self.payments.values()))


class FakeStripe(_Server):
    """POST /v1/checkout/sessions and GET /v1/checkout/sessions/<id>, as api.stripe.com answers."""

    def reset(self):
        self.sessions: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.requests.clear()
        self.fail_next = 0

    def error(self, status: int, message: str, code: str = "api_error") -> Response:
        kind = "invalid_request_error" if status < 500 else "api_error"
        body = {"error": {"type": kind, "message": message, "code": code}}
        return Response(json.dumps(body), status=status, content_type="application/json")

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {STRIPE_KEY}":
            return self.error(401, "Invalid API Key provided", "invalid_api_key")
        if request.method == "POST" and request.path == "/v1/checkout/sessions":
            key = request.headers.get("Idempotency-Key", "")
            if key and key in self.by_key:
                return self._answer(self.sessions[self.by_key[key]])
            form = request.form
            session_id = "cs_test_" + secrets.token_hex(8)
            self.sessions[session_id] = {
                "id": session_id, "object": "checkout.session", "mode": form["mode"], "status": "open",
                "payment_status": "unpaid",
                "amount_total": int(form["line_items[0][price_data][unit_amount]"]) * int(form["line_items[0][quantity]"]),
                "currency": form["line_items[0][price_data][currency]"],
                "success_url": form["success_url"], "cancel_url": form["cancel_url"],
                "client_reference_id": form.get("client_reference_id"),
                "metadata": {k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")},
                "url": f"https://checkout.stripe.test/c/pay/{session_id}",
                "product_name": form["line_items[0][price_data][product_data][name]"],
            }
            if key:
                self.by_key[key] = session_id
            return self._answer(self.sessions[session_id])
        if request.method == "GET" and request.path.startswith("/v1/checkout/sessions/"):
            session = self.sessions.get(request.path.rsplit("/", 1)[1])
            if session is None:
                return self.error(404, "No such checkout.session", "resource_missing")
            return self._answer(session)
        return self.error(404, "Unrecognized request URL")

    def _answer(self, session: dict) -> Response:
        return Response(json.dumps(session), status=200, content_type="application/json")

    def complete(self, session_id: str, payment_status: str = "paid"):
        self.sessions[session_id].update(status="complete", payment_status=payment_status)

    def only(self) -> dict:
        assert len(self.sessions) == 1, self.sessions
        return next(iter(self.sessions.values()))


def signed_event(session: dict, event_type: str = "checkout.session.completed",
                 secret: str = STRIPE_WEBHOOK_SECRET, **changes) -> tuple[str, dict[str, str]]:
    """A webhook body and its Stripe-Signature header, as Stripe signs them."""
    event = {"id": "evt_" + secrets.token_hex(8), "object": "event", "type": event_type, "api_version": "2025-01-01",
             "created": int(time.time()), "data": {"object": {**session, **changes}}}
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return payload, {"Stripe-Signature": header, "Content-Type": "application/json"}


@pytest.fixture(scope="session")
def _mollie_server():
    server = FakeMollie()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _stripe_server():
    server = FakeStripe()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


def use_provider(app, name: str, **settings_values) -> None:
    with app.app_context():
        settings = get_settings(for_update=True)
        settings.payment_provider = name
        for key, value in settings_values.items():
            setattr(settings, key, value)
        db.session.commit()


@pytest.fixture
def mollie(app, monkeypatch, _mollie_server) -> FakeMollie:
    _mollie_server.reset()
    monkeypatch.setitem(app.config, "MOLLIE_API_KEY", MOLLIE_KEY)
    monkeypatch.setitem(app.config, "MOLLIE_API_ENDPOINT", _mollie_server.url)
    use_provider(app, "mollie")
    return _mollie_server


@pytest.fixture
def stripe_api(app, monkeypatch, _stripe_server) -> FakeStripe:
    _stripe_server.reset()
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", STRIPE_KEY)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", _stripe_server.url)
    use_provider(app, "stripe")
    return _stripe_server


# --- a debtor with open invoices --------------------------------------------------------------


@dataclass
class Debtor:
    customer: object
    token: str
    invoices: dict[str, Document] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/d/{self.token}"


def token_for(app, customer) -> str:
    with app.app_context():
        token = dossier.current_token(customer.id)
        db.session.commit()
        return token


@pytest.fixture
def debtor(app) -> Debtor:
    """Dora: two open EUR invoices (121.00 and 200.00 left of 242.00), one paid."""
    customer = factories.customer(name="Dora Debtor", language="en", email="dora@example.test")
    invoices = {
        "open": factories.invoice(customer, amount="100.00"),  # 121.00
        "partial": factories.invoice(customer, amount="200.00", status=_status("partially_paid"), amount_paid="42.00"),
        "paid": factories.invoice(customer, amount="50.00", status=_status("paid"), amount_paid="60.50"),
    }
    return Debtor(customer, token_for(app, customer), invoices)


@pytest.fixture
def stranger(app) -> Debtor:
    customer = factories.customer(name="Stan Stranger", language="en", email="stan@example.test")
    return Debtor(customer, token_for(app, customer), {"open": factories.invoice(customer, amount="999.00")})


def _status(name: str):
    from models.documents import DocumentStatus

    return DocumentStatus(name)


# --- reading the database and pages -------------------------------------------------------------


def invoice_state(app, document_id: int) -> tuple[str, Decimal]:
    with app.app_context():
        document = db.session.get(Document, document_id)
        return document.status.value, document.amount_paid


def payments_of(app, customer_id: int) -> list[Payment]:
    with app.app_context():
        rows = list(db.session.scalars(select(Payment).where(Payment.customer_id == customer_id).order_by(Payment.id)))
        for row in rows:
            _ = row.items
            db.session.expunge(row)
        return rows


def outbox_templates(app, customer_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            select(OutboundEmail.template).where(OutboundEmail.customer_id == customer_id).order_by(OutboundEmail.id)))


def audit_actions(app, prefix: str = "payment.") -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)))


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def page_token(response) -> str:
    """The CSRF token the page's forms carry (their hidden csrf_token input; a dossier page has
    none in <body hx-headers>, so without a form it sets no cookie)."""
    field = soup_of(response).find("input", attrs={"name": "csrf_token"})
    assert field is not None, "the page has no form with a csrf_token"
    return field["value"]


def open_page(client, debtor: Debtor):
    response = client.get(debtor.url, headers=ENGLISH)
    assert response.status_code == 200, response.status_code
    return response


def pay(client, debtor: Debtor, invoice: str | int = "all", currency: str | None = None, **extra):
    """Press a Pay button as the page's form does (its CSRF token included). A page without
    a Pay form (payments off) carries no token: then the post a page opened earlier would make,
    with the session's token read from a page outside the dossier."""
    page = open_page(client, debtor)
    has_form = soup_of(page).find("input", attrs={"name": "csrf_token"}) is not None
    token = page_token(page) if has_form else csrf_token(client, "/portal/login")
    data = {"csrf_token": token, "invoice": str(invoice), **extra}
    if currency:
        data["currency"] = currency
    return client.post(f"{debtor.url}/pay", data=data, headers=ENGLISH)


def start(client, debtor: Debtor, invoice: str | int = "all"):
    """Pay, expecting the redirect to the provider's checkout."""
    response = pay(client, debtor, invoice)
    assert response.status_code == 303, (response.status_code, response.data[:400])
    return response


def flashes(response) -> list[str]:
    box = soup_of(response).find(class_="flashes")
    return [p.get_text(" ", strip=True) for p in box.find_all("p")] if box else []
