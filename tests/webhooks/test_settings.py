"""The webhook settings pages: a manager adds an endpoint (and sees its secret), disables,
enables, rotates, sends a test event, resends a delivery and deletes it; bad URLs are a
422 at the field; employees get 403; the endpoint page's queries are bounded."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models.db import db
from models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import count_queries, field_error, soup_of


@pytest.fixture(autouse=True)
def _no_queue(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


def the_endpoint(app) -> WebhookEndpoint:
    with app.app_context():
        endpoint = db.session.scalar(select(WebhookEndpoint))
        db.session.expunge(endpoint)
        return endpoint


def add(owner_client, **data):
    return owner_client.post("/admin/settings/webhooks", data={
        "url": "https://accounting.example.com/dossier-hooks", "description": "Accounting", **data})


def test_the_settings_page_links_to_webhooks(owner_client):
    soup = owner_client.soup("/admin/settings")
    assert soup.find("a", string=lambda s: s and s.strip() == "Webhooks")["href"] == "/admin/settings/webhooks"


def test_add_an_endpoint_and_see_its_secret(app, owner_client):
    assert "No webhook endpoints yet." in owner_client.soup("/admin/settings/webhooks").get_text()
    response = add(owner_client, event_types=["payment.received", "quote.accepted"])
    assert response.status_code == 302
    endpoint = the_endpoint(app)
    assert response.headers["Location"] == f"/admin/settings/webhooks/{endpoint.id}"
    assert endpoint.url == "https://accounting.example.com/dossier-hooks" and endpoint.active
    assert endpoint.event_types == ["payment.received", "quote.accepted"]
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
    page = owner_client.get(f"/admin/settings/webhooks/{endpoint.id}")
    assert page.headers["Cache-Control"] == "no-store"
    soup = soup_of(page)
    assert soup.find(id="signing-secret").get_text() == endpoint.secret
    text = soup.get_text(" ", strip=True)
    assert "Payment received, Quote accepted" in text and "No deliveries yet." in text
    listing = owner_client.soup("/admin/settings/webhooks")
    link = listing.find("a", string="https://accounting.example.com/dossier-hooks")
    assert link["href"] == f"/admin/settings/webhooks/{endpoint.id}"


@pytest.mark.parametrize("url,message", [
    ("", "Enter the endpoint's URL."),
    ("http://accounting.example.com/", "The URL must start with https://"),
    ("https://169.254.169.254/latest", "This address is on an internal network"),
    ("not a url", "Enter a valid URL"),
    ("https://[::1/dossier-hooks", "Enter a valid URL"),  # urlsplit's ValueError was a 500
    ("https://accounting.example.com/\x7fhooks", "Enter a valid URL"),  # saved; then never sent
])
def test_a_bad_url_is_refused_at_the_field(app, owner_client, url, message):
    response = add(owner_client, url=url)
    assert response.status_code == 422
    assert field_error(soup_of(response), "URL").startswith(message)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_an_unknown_event_type_is_refused(owner_client):
    response = add(owner_client, event_types=["payment.maybe"])
    assert response.status_code == 422


def test_disable_enable_rotate_test_resend_delete(app, owner_client):
    add(owner_client)
    endpoint = the_endpoint(app)
    base = f"/admin/settings/webhooks/{endpoint.id}"
    assert owner_client.post(f"{base}/active", data={"active": "off"}).status_code == 302
    assert the_endpoint(app).active is False
    soup = owner_client.soup(base)
    assert soup.find("button", string="Send test event") is None  # not for a disabled endpoint
    assert owner_client.post(f"{base}/test").status_code == 302  # refused with a message
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert owner_client.post(f"{base}/active", data={"active": "on"}).status_code == 302
    assert the_endpoint(app).active is True

    assert owner_client.post(f"{base}/rotate").status_code == 302
    rotated = the_endpoint(app)
    assert rotated.secret != endpoint.secret and rotated.previous_secret == endpoint.secret
    assert "The previous secret also signs until" in owner_client.soup(base).get_text()

    assert owner_client.post(f"{base}/test").status_code == 302
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery.event_type == "webhook.test" and delivery.status == DeliveryStatus.queued
        delivery.status, delivery.last_error = DeliveryStatus.failed, "gave up after 10 attempts: HTTP 500"
        db.session.add(WebhookAttempt(delivery_id=delivery.id, status_code=500, error="HTTP 500", duration_ms=12))
        db.session.commit()
        delivery_id = delivery.id
    soup = owner_client.soup(base)
    row = soup.find("form", action=f"{base}/deliveries/{delivery_id}/resend").find_parent("tr")
    assert "Failed" in row.get_text() and "HTTP 500" in row.get_text() and "12 ms" in row.get_text()
    assert owner_client.post(f"{base}/deliveries/{delivery_id}/resend").status_code == 302
    with app.app_context():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        assert delivery.status == DeliveryStatus.queued and delivery.attempts == 0
    # A second click while it waits changes nothing.
    assert owner_client.post(f"{base}/deliveries/{delivery_id}/resend").status_code == 302
    assert soup_of(owner_client.get(base)).find("form", action=f"{base}/deliveries/{delivery_id}/resend") is None

    assert owner_client.post(f"{base}/delete").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
        assert db.session.scalar(select(func.count()).select_from(WebhookAttempt)) == 0


def test_a_delivery_of_another_endpoint_is_not_found(app, owner_client):
    add(owner_client)
    add(owner_client, url="https://other.example.com/hooks")
    with app.app_context():
        first, second = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
        delivery = WebhookDelivery(endpoint_id=second.id, event_type="webhook.test", body="{}",
                                   status=DeliveryStatus.failed)
        db.session.add(delivery)
        db.session.commit()
        ids = first.id, delivery.id
    response = owner_client.post(f"/admin/settings/webhooks/{ids[0]}/deliveries/{ids[1]}/resend")
    assert response.status_code == 404
    assert owner_client.get("/admin/settings/webhooks/999999").status_code == 404


def test_employees_are_refused(app, owner_client, employee_client):
    add(owner_client)
    endpoint = the_endpoint(app)
    assert employee_client.get("/admin/settings/webhooks").status_code == 403
    assert employee_client.get(f"/admin/settings/webhooks/{endpoint.id}").status_code == 403
    assert employee_client.post(f"/admin/settings/webhooks/{endpoint.id}/rotate").status_code == 403
    assert the_endpoint(app).secret == endpoint.secret


def test_the_endpoint_page_issues_a_bounded_number_of_queries(app, owner_client):
    add(owner_client)
    endpoint = the_endpoint(app)
    with app.app_context():
        for n in range(30):
            delivery = WebhookDelivery(endpoint_id=endpoint.id, event_type="payment.received", body="{}",
                                       status=DeliveryStatus.failed)
            db.session.add(delivery)
            db.session.flush()
            db.session.add_all([WebhookAttempt(delivery_id=delivery.id, status_code=500, error="x", duration_ms=1)
                                for _ in range(3)])
        db.session.commit()
    with count_queries(app) as statements:
        response = owner_client.get(f"/admin/settings/webhooks/{endpoint.id}")
    assert response.status_code == 200
    assert len(soup_of(response).select("ol.attempts li")) == 90
    assert len(statements) <= 8, statements


def test_a_customers_e_mail_page_lists_the_webhook_deliveries_about_them(app, owner_client, employee_client,
                                                                        employee):
    from tests import factories

    customer = factories.customer(assigned_to=[employee])
    other = factories.customer()
    add(owner_client)
    endpoint = the_endpoint(app)
    with app.app_context():
        for who, status, error in ((customer, DeliveryStatus.failed, "gave up after 10 attempts: HTTP 500"),
                                   (other, DeliveryStatus.delivered, None)):
            db.session.add(WebhookDelivery(endpoint_id=endpoint.id, event_type="email.provided", body="{}",
                                           customer_id=who.id, status=status, last_error=error))
        db.session.commit()
    soup = owner_client.soup(f"/admin/customers/{customer.id}/emails")
    section = soup.find(id="webhooks-h").find_parent("section")
    rows = section.find("tbody").find_all("tr")
    assert len(rows) == 1
    text = rows[0].get_text(" ", strip=True)
    assert "E-mail address provided" in text and "Accounting" in text and "Failed" in text and "HTTP 500" in text
    assert rows[0].find("a")["href"] == f"/admin/settings/webhooks/{endpoint.id}"
    # An employee sees them too, without the link to the managers' page.
    rows = employee_client.soup(f"/admin/customers/{customer.id}/emails").find(id="webhooks-h") \
        .find_parent("section").find("tbody").find_all("tr")
    assert len(rows) == 1 and rows[0].find("a") is None
    assert owner_client.soup(f"/admin/customers/{factories.customer().id}/emails").find(id="webhooks-h") is None
