"""/metrics counts outbound webhook deliveries per status at scrape time (every status, 0 included)."""

from __future__ import annotations

from models.db import db
from models.webhooks import DeliveryStatus, WebhookDelivery
from tests.web.test_metrics import metrics_app, scrape  # noqa: F401  (fixture and helper)
from tests.webhooks.conftest import add_endpoint


def depth(samples) -> dict[str, float]:
    return {dict(labels)["status"]: value for (name, labels), value in samples.items()
            if name == "dossier_outbound_webhooks"}


def test_webhook_deliveries_per_status(metrics_app, client):  # noqa: F811
    assert depth(scrape(client)) == {status.value: 0 for status in DeliveryStatus}
    endpoint = add_endpoint(metrics_app, "https://hooks.example.com/x")
    with metrics_app.app_context():
        for status in (DeliveryStatus.queued, DeliveryStatus.queued, DeliveryStatus.failed, DeliveryStatus.delivered):
            db.session.add(WebhookDelivery(endpoint_id=endpoint.id, event_type="webhook.test", body="{}", status=status))
        db.session.commit()
    assert depth(scrape(client)) == {"queued": 2, "sending": 0, "delivered": 1, "failed": 1}
