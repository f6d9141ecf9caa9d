"""`flask --app wsgi worker --burst`, the real process: it listens on the webhooks queue too,
posts the delivery to the loopback receiver (signature verified) and counts it in the
multiprocess metrics files /metrics adds up."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import select

from models.customers import Customer
from models.db import db
from models.services import provided_email
from models.webhooks import DeliveryStatus, WebhookDelivery
from tests import factories
from tests.mailers.conftest import worker_processes  # noqa: F401  (fixture)
from tests.webhooks.conftest import add_endpoint


def test_the_worker_process_delivers_webhooks(hooks_app, receiver, worker_processes, tmp_path):  # noqa: F811
    endpoint = add_endpoint(hooks_app, receiver.url)
    receiver.secret = endpoint.secret
    customer = factories.customer(email=None)
    with hooks_app.app_context():
        provided_email.provide(db.session.get(Customer, customer.id), "worker@example.com")
        db.session.commit()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    worker = worker_processes.start("--burst", WEBHOOKS_ALLOW_HTTP="1", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    assert worker.wait(timeout=60) == 0, worker_processes.logs()
    [got] = receiver.received
    assert got.valid and got.json["data"]["email"] == "worker@example.com"
    with hooks_app.app_context():
        assert db.session.scalar(select(WebhookDelivery.status)) == DeliveryStatus.delivered
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry.collect() for s in m.samples}
    assert samples[("dossier_outbound_webhook_attempts_total", (("outcome", "delivered"),))] == 1
