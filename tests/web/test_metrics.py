"""/metrics: Prometheus text, behind a bearer token (off without one); a histogram per
endpoint name (never per path), the outbox per status counted at scrape time, and the
webhooks received. Counters live as long as the process, so tests compare before and after.
The worker's counters and multiprocess mode under gunicorn: tests/mailers/test_metrics_processes.py."""

from __future__ import annotations

import secrets

import pytest
from prometheus_client.parser import text_string_to_metric_families

from models.db import db
from models.outbox import MailCategory, MailStatus
from models.services import dossier, outbox
from tests import factories

TOKEN = "metrics-" + secrets.token_urlsafe(24)


@pytest.fixture
def metrics_app(app):
    app.config["METRICS_TOKEN"] = TOKEN
    yield app
    app.config["METRICS_TOKEN"] = ""


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.data[:300]
    assert response.content_type.startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def requests_counted(samples, endpoint: str, method: str = "GET", status: str = "2xx") -> float:
    key = ("dossier_http_request_duration_seconds_count",
           tuple(sorted({"endpoint": endpoint, "method": method, "status": status}.items())))
    return samples.get(key, 0.0)


def test_off_without_a_configured_token(app, client):
    assert app.config["METRICS_TOKEN"] == ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}",
])
def test_a_missing_or_wrong_token_is_refused(metrics_app, client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"dossier_" not in response.data


def test_the_token_is_compared_in_constant_time():
    import inspect

    from web import metrics

    assert "hmac.compare_digest" in inspect.getsource(metrics._authorised)


def test_a_scrape_counts_requests_per_endpoint_method_and_status_class(metrics_app, client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/admin/login").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert client.post("/healthz").status_code == 405
    after = scrape(client)
    assert requests_counted(after, "admin.login") - requests_counted(before, "admin.login") == 3
    assert requests_counted(after, "health.healthz") - requests_counted(before, "health.healthz") == 1
    assert requests_counted(after, "unmatched", status="4xx") - requests_counted(before, "unmatched", status="4xx") == 1
    assert (requests_counted(after, "unmatched", "POST", "4xx")
            - requests_counted(before, "unmatched", "POST", "4xx")) == 1
    # the scrape before this one is counted too, under its own endpoint
    assert requests_counted(after, "metrics.metrics") - requests_counted(before, "metrics.metrics") == 1
    # a histogram: the +Inf bucket holds every request
    inf = ("dossier_http_request_duration_seconds_bucket",
           tuple(sorted({"endpoint": "admin.login", "method": "GET", "status": "2xx", "le": "+Inf"}.items())))
    assert after[inf] == requests_counted(after, "admin.login")


def test_dossier_tokens_never_become_label_values(metrics_app, client):
    customer = factories.customer(email="debtor@example.com")
    with metrics_app.app_context():
        real = dossier.current_token(customer.id)
        db.session.commit()
    tokens = [real, f"{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(16)}",
              f"{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(16)}"]
    before = scrape(client)
    assert client.get(f"/d/{tokens[0]}").status_code == 200
    assert client.get(f"/d/{tokens[1]}").status_code == 404
    assert client.get(f"/d/{tokens[2]}").status_code == 404
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    text = response.get_data(as_text=True)
    assert not any(token in text or token.split(".")[0] in text for token in tokens)
    after = scrape(client)
    endpoints = {dict(labels)["endpoint"] for name, labels in after if name == "dossier_http_request_duration_seconds_count"}
    assert "portal.dossier_page" in endpoints
    assert not any("/" in endpoint for endpoint in endpoints), endpoints
    assert requests_counted(after, "portal.dossier_page") - requests_counted(before, "portal.dossier_page") == 1
    assert (requests_counted(after, "portal.dossier_page", status="4xx")
            - requests_counted(before, "portal.dossier_page", status="4xx")) == 2


def test_outbox_depth_per_status_is_counted_at_scrape_time(metrics_app, client):
    customer = factories.customer(email="debtor@example.com")
    with metrics_app.app_context():
        record = db.session.get(type(customer), customer.id)
        rows = [outbox.queue_customer_email(record, MailCategory.account, "account_notice",
                                            context={"notice": "shipped", "message": ""}) for _ in range(5)]
        outbox.mark_failed(rows[0], "550 mailbox unavailable")
        rows[1].status = MailStatus.sent
        rows[2].status = MailStatus.sending
        db.session.commit()

    def depth(samples):
        return {dict(labels)["status"]: value for (name, labels), value in samples.items() if name == "dossier_outbox_emails"}

    assert depth(scrape(client)) == {"queued": 2, "sending": 1, "sent": 1, "failed": 1}
    with metrics_app.app_context():
        outbox.mark_failed(db.session.get(type(rows[3]), rows[3].id), "550 no")
        db.session.commit()
    assert depth(scrape(client)) == {"queued": 1, "sending": 1, "sent": 1, "failed": 2}


def test_outbox_depth_of_an_empty_outbox_is_zero_for_every_status(metrics_app, client):
    samples = scrape(client)
    assert {dict(labels)["status"]: value for (name, labels), value in samples.items()
            if name == "dossier_outbox_emails"} == {status.value: 0 for status in MailStatus}


def test_webhook_deliveries_by_provider_and_answer(metrics_app, client):
    metrics_app.config.update(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET="whsec_test")
    try:
        before = scrape(client)
        assert client.post("/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}).status_code == 401
        assert client.post(f"/webhooks/{secrets.token_hex(8)}").status_code == 404
        assert client.post(f"/webhooks/{secrets.token_hex(8)}").status_code == 404
        after = scrape(client)
    finally:
        metrics_app.config.update(STRIPE_SECRET_KEY="", STRIPE_WEBHOOK_SECRET="")

    def delivered(samples, provider, status):
        return samples.get(("dossier_webhook_deliveries_total",
                            (("provider", provider), ("status", status))), 0.0)

    assert delivered(after, "stripe", "401") - delivered(before, "stripe", "401") == 1
    assert delivered(after, "other", "404") - delivered(before, "other", "404") == 2
    providers = {dict(labels)["provider"] for name, labels in after if name == "dossier_webhook_deliveries_total"}
    assert providers <= {"mollie", "stripe", "other"}
