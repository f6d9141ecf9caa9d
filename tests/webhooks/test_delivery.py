"""Webhook deliveries end to end: an event commits, its delivery rows go on the queue, a real
RQ worker posts them to a real HTTP receiver on loopback, which verifies each signature.

Retries are a second apart here (hooks_app); RQ's scheduler moves them onto the queue.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from mailers import webhooks as webhook_jobs
from mailers import worker
from models import clock
from models.customers import Customer
from models.db import db, now_utc
from models.events import Event
from models.services import events, provided_email, webhooks
from models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests import factories
from tests.mailers.conftest import scheduled_times
from tests.webhooks.conftest import TOLERANCE, add_endpoint, free_port, verify


def provide_email(app, customer_id: int, address: str = "provided@example.com") -> int:
    """A business event (email.provided) committed as a request commits it; its id."""
    with app.app_context():
        provided_email.provide(db.session.get(Customer, customer_id), address)
        db.session.commit()
        return db.session.scalar(select(Event.id).order_by(Event.id.desc()))


def deliveries(app) -> list[WebhookDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        db.session.expunge_all()
        return rows


def attempts(app, delivery_id: int) -> list[WebhookAttempt]:
    with app.app_context():
        rows = list(db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                       .order_by(WebhookAttempt.id)))
        db.session.expunge_all()
        return rows


def wait_for_retries(app) -> None:
    times = scheduled_times_of(app)
    assert times, "no retry is scheduled"
    time.sleep(max(0.0, max(times) + 0.05 - time.time()))


def scheduled_times_of(app) -> list[float]:
    from rq.registry import ScheduledJobRegistry

    from mailers import queue

    with app.app_context():
        registry = ScheduledJobRegistry(queue.WEBHOOKS.queue_name, connection=queue.connection())
        return [score for _, score in registry.connection.zrange(registry.key, 0, -1, withscores=True)]


def test_a_delivery_is_signed_and_verified_by_the_receiver(hooks_app, receiver, run_worker):
    endpoint = add_endpoint(hooks_app, receiver.url)
    receiver.secret = endpoint.secret
    customer = factories.customer(email=None, external_id="ACC-1")
    event_id = provide_email(hooks_app, customer.id)
    [delivery] = deliveries(hooks_app)
    assert delivery.status == DeliveryStatus.queued and delivery.event_id == event_id

    run_worker()

    [got] = receiver.received
    assert got.valid, got.headers
    assert got.path == "/hooks"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Dossier-Event"] == "email.provided"
    assert got.headers["Dossier-Delivery"] == str(delivery.id)
    body = got.json
    assert body["id"] == event_id and body["type"] == "email.provided"
    assert body["data"]["customer"] == {"id": customer.id, "number": customer.number, "external_id": "ACC-1"}
    assert body["data"]["email"] == "provided@example.com"
    [done] = deliveries(hooks_app)
    assert done.status == DeliveryStatus.delivered and done.attempts == 1 and done.last_status_code == 200
    [attempt] = attempts(hooks_app, done.id)
    assert attempt.status_code == 200 and attempt.error is None and attempt.duration_ms >= 0
    # A second run finds nothing to do: delivered once.
    run_worker(with_scheduler=True)
    assert len(receiver.received) == 1


def test_a_wrong_secret_or_an_old_timestamp_fails_verification(hooks_app, receiver, run_worker):
    endpoint = add_endpoint(hooks_app, receiver.url)
    receiver.secret = "whsec_not_the_secret"
    provide_email(hooks_app, factories.customer(email=None).id)
    run_worker()
    [got] = receiver.received
    assert not got.valid
    header = got.headers["Dossier-Signature"]
    assert verify(endpoint.secret, header, got.body)
    assert not verify(endpoint.secret, header, got.body + b" ")  # the body is what is signed
    stamp = int(header.split(",")[0].removeprefix("t="))
    assert not verify(endpoint.secret, header, got.body, now=stamp + TOLERANCE + 1)


def test_retried_across_a_receiver_outage_and_delivered_once(hooks_app, receiver, run_worker):
    endpoint = add_endpoint(hooks_app, receiver.url)
    receiver.secret = endpoint.secret
    receiver.stop()  # the receiver is down
    provide_email(hooks_app, factories.customer(email=None).id)

    run_worker()
    [delivery] = deliveries(hooks_app)
    assert delivery.status == DeliveryStatus.queued and delivery.attempts == 1
    assert "ConnectionRefused" in delivery.last_error and delivery.next_attempt_at is not None
    [first] = attempts(hooks_app, delivery.id)
    assert first.status_code is None and "ConnectionRefused" in first.error

    receiver.start()  # back, on the same port
    wait_for_retries(hooks_app)
    run_worker(with_scheduler=True)

    [got] = receiver.received
    assert got.valid
    [delivery] = deliveries(hooks_app)
    assert delivery.status == DeliveryStatus.delivered and delivery.attempts == 2
    assert [a.status_code for a in attempts(hooks_app, delivery.id)] == [None, 200]
    assert got.headers["Dossier-Delivery"] == str(delivery.id)
    wait_for_retries_or_none = scheduled_times_of(hooks_app)
    assert wait_for_retries_or_none == []  # nothing left scheduled
    run_worker(with_scheduler=True)
    assert len(receiver.received) == 1


def test_an_error_answer_is_retried_then_the_delivery_fails(hooks_app, receiver, run_worker):
    endpoint = add_endpoint(hooks_app, receiver.url)
    receiver.secret = endpoint.secret
    receiver.status = 500
    provide_email(hooks_app, factories.customer(email=None).id)
    run_worker()
    for _ in range(2):  # WEBHOOK_RETRY_DELAYS has two waits: three attempts in all
        wait_for_retries(hooks_app)
        run_worker(with_scheduler=True)
    [delivery] = deliveries(hooks_app)
    assert delivery.status == DeliveryStatus.failed and delivery.attempts == 3
    assert delivery.last_error.startswith("gave up after 3 attempts: HTTP 500")
    assert "receiver says no" in delivery.last_error  # the answer's body, for staff
    assert [a.status_code for a in attempts(hooks_app, delivery.id)] == [500, 500, 500]
    assert len(receiver.received) == 3 and all(r.valid for r in receiver.received)
    assert scheduled_times_of(hooks_app) == []


def test_a_port_where_nothing_listens(hooks_app, run_worker):
    add_endpoint(hooks_app, f"http://127.0.0.1:{free_port()}/nobody")
    provide_email(hooks_app, factories.customer(email=None).id)
    run_worker()
    for _ in range(2):
        wait_for_retries(hooks_app)
        run_worker(with_scheduler=True)
    [delivery] = deliveries(hooks_app)
    assert delivery.status == DeliveryStatus.failed
    assert [a.status_code for a in attempts(hooks_app, delivery.id)] == [None, None, None]
    assert all("ConnectionRefused" in a.error for a in attempts(hooks_app, delivery.id))


def test_redis_down_the_request_succeeds_and_the_delivery_waits_for_the_flush(
        hooks_app, receiver, run_worker, owner_client):
    endpoint = add_endpoint(hooks_app, receiver.url)
    receiver.secret = endpoint.secret
    customer = factories.customer()
    invoice = factories.invoice(customer, amount="100.00")
    live = hooks_app.config["REDIS_URL"]
    hooks_app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    hooks_app.extensions.pop("dossier_redis", None)
    try:
        response = owner_client.post(f"/admin/documents/{invoice.id}/payments", data={
            "amount": "25.00", "received_on": clock.today().isoformat(), "method": "bank_transfer"})
        assert response.status_code == 302, response.data[:500]
    finally:
        hooks_app.config["REDIS_URL"] = live
        hooks_app.extensions.pop("dossier_redis", None)
    [delivery] = deliveries(hooks_app)
    assert delivery.status == DeliveryStatus.queued and delivery.event_type == "payment.received"
    run_worker()  # nothing is on the queue yet
    assert receiver.received == []
    with hooks_app.app_context():
        assert worker.flush_webhooks() == 1
    run_worker()
    [got] = receiver.received
    assert got.valid and got.json["data"]["payment"]["amount"] == "25.00"
    assert got.json["data"]["payment"]["invoices"][0]["number"] == invoice.number


def test_only_active_endpoints_that_want_the_type_get_a_delivery(hooks_app, receiver):
    wants = add_endpoint(hooks_app, receiver.url, ["email.provided"])
    add_endpoint(hooks_app, receiver.url, ["payment.received"])
    everything = add_endpoint(hooks_app, receiver.url)
    add_endpoint(hooks_app, receiver.url, active=False)
    provide_email(hooks_app, factories.customer(email=None).id)
    assert sorted(d.endpoint_id for d in deliveries(hooks_app)) == sorted([wants.id, everything.id])


def test_a_rolled_back_event_has_no_delivery(hooks_app, receiver):
    add_endpoint(hooks_app, receiver.url)
    customer = factories.customer(email=None)
    with hooks_app.app_context():
        provided_email.provide(db.session.get(Customer, customer.id), "x@example.com")
        db.session.rollback()
        assert db.session.info.get(webhooks.PENDING_KEY) is None
    assert deliveries(hooks_app) == []


def test_a_disabled_endpoint_fails_waiting_deliveries_without_posting(hooks_app, receiver, run_worker):
    endpoint = add_endpoint(hooks_app, receiver.url)
    provide_email(hooks_app, factories.customer(email=None).id)
    with hooks_app.app_context():
        db.session.get(WebhookEndpoint, endpoint.id).active = False
        db.session.commit()
    run_worker()
    assert receiver.received == []
    [delivery] = deliveries(hooks_app)
    assert delivery.status == DeliveryStatus.failed and "disabled" in delivery.last_error
    assert attempts(hooks_app, delivery.id) == []  # no request was made


def test_after_a_rotation_both_secrets_sign_for_a_day(hooks_app, receiver, run_worker, owner):
    endpoint = add_endpoint(hooks_app, receiver.url)
    with hooks_app.app_context():
        from models.staff import StaffUser

        new = webhooks.rotate_secret(db.session.get(StaffUser, owner.id), db.session.get(WebhookEndpoint, endpoint.id))
        db.session.commit()
    receiver.secret = endpoint.secret  # a receiver not yet switched over
    provide_email(hooks_app, factories.customer(email=None).id)
    run_worker()
    [got] = receiver.received
    assert got.valid and verify(new, got.headers["Dossier-Signature"], got.body)
    assert got.headers["Dossier-Signature"].count("v1=") == 2
    # Once the overlap is over, only the new secret signs.
    with hooks_app.app_context():
        db.session.get(WebhookEndpoint, endpoint.id).previous_secret_expires_at = now_utc() - timedelta(seconds=1)
        db.session.commit()
    provide_email(hooks_app, factories.customer(email=None).id, "second@example.com")
    run_worker()
    second = receiver.received[1]
    assert not second.valid and verify(new, second.headers["Dossier-Signature"], second.body)
    assert second.headers["Dossier-Signature"].count("v1=") == 1


def test_a_test_event_and_a_resend(hooks_app, receiver, run_worker, owner):
    from models.staff import StaffUser

    endpoint = add_endpoint(hooks_app, receiver.url)
    receiver.secret = endpoint.secret
    with hooks_app.app_context():
        delivery = webhooks.send_test(db.session.get(StaffUser, owner.id), db.session.get(WebhookEndpoint, endpoint.id))
        db.session.commit()
        delivery_id = delivery.id
    run_worker()
    [got] = receiver.received
    assert got.valid and got.json["type"] == "webhook.test" and got.json["id"] is None
    with hooks_app.app_context():
        assert db.session.scalar(select(Event.id)) is None  # a test is no business event
        webhooks.resend(db.session.get(StaffUser, owner.id), db.session.get(WebhookDelivery, delivery_id))
        db.session.commit()
    run_worker()
    assert len(receiver.received) == 2
    assert receiver.received[1].body == got.body and receiver.received[1].valid
    assert receiver.received[1].headers["Dossier-Delivery"] == str(delivery_id)
    assert len(attempts(hooks_app, delivery_id)) == 2


def test_an_internal_address_is_refused_when_sending(hooks_app, receiver):
    """A URL saved while allowed (or a host name that resolves to loopback later) is not
    posted to once the operator no longer allows loopback."""
    hooks_app.config["WEBHOOKS_ALLOW_HTTP"] = False
    answer = webhook_jobs.post(receiver.url.replace("http:", "https:"), b"{}", {}, timeout=2, allow_http=False,
                               allow_private=False)
    assert answer.status is None and answer.error.startswith("refused:")
    answer = webhook_jobs.post(f"https://localhost:{receiver.port}/", b"{}", {}, timeout=2, allow_http=False,
                               allow_private=True)
    assert answer.error.startswith("refused:")
    assert receiver.received == []


def test_events_record_writes_deliveries_in_one_statement(hooks_app, receiver):
    for _ in range(3):
        add_endpoint(hooks_app, receiver.url)
    customer = factories.customer()
    with hooks_app.app_context():
        event = events.record("master_data.changed", customer=db.session.get(Customer, customer.id),
                              data={"changed": {"city": "Utrecht"}})
        pending = set(db.session.info[webhooks.PENDING_KEY])
        db.session.commit()
    rows = deliveries(hooks_app)
    assert {d.id for d in rows} == pending and {d.event_id for d in rows} == {event.id}
    assert len({d.body for d in rows}) == 1


@pytest.mark.parametrize("url,ok", [
    ("https://hooks.example.com/dossier", True),
    ("https://hooks.example.com:8443/a?b=c", True),
    ("http://hooks.example.com/dossier", False),
    ("ftp://hooks.example.com/", False),
    ("https://user:pw@hooks.example.com/", False),
    ("https://127.0.0.1/", False),
    ("https://localhost/", False),
    ("https://10.0.0.5/", False),
    ("https://169.254.169.254/latest/meta-data", False),
    ("https://[::1]/", False),
    ("https://[::ffff:127.0.0.1]/", False),
    ("https://", False),
    ("https://exa mple.com/", False),
    ("https://hooks.example.com:99999/", False),
    ("", False),
])
def test_url_rules(app, url, ok):
    from models.services.errors import DomainError

    with app.test_request_context():
        if ok:
            assert webhooks.check_url(url) == url
        else:
            with pytest.raises(DomainError) as refused:
                webhooks.check_url(url)
            assert refused.value.field == "url"


def test_private_and_loopback_addresses_by_setting(app, monkeypatch):
    from models.services.errors import DomainError

    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", True)
    with app.test_request_context():
        assert webhooks.check_url("https://10.0.0.5/hooks") == "https://10.0.0.5/hooks"
        for refused in ("https://127.0.0.1/", "https://169.254.169.254/", "http://10.0.0.5/"):
            with pytest.raises(DomainError):
                webhooks.check_url(refused)
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_HTTP", True)
    with app.test_request_context():
        assert webhooks.check_url("http://127.0.0.1:8000/h") == "http://127.0.0.1:8000/h"
        with pytest.raises(DomainError):
            webhooks.check_url("http://169.254.169.254/")


def test_the_endpoints_are_read_once_per_transaction(hooks_app, receiver):
    from tests.conftest import count_queries

    add_endpoint(hooks_app, receiver.url)
    customers = [factories.customer() for _ in range(3)]
    with count_queries(hooks_app) as statements:
        with hooks_app.app_context():
            for customer in customers:
                events.record("master_data.changed", customer=db.session.get(Customer, customer.id),
                              data={"changed": {"city": "Utrecht"}})
            db.session.commit()
            # A new transaction reads them again (an endpoint added meanwhile is seen).
            add_endpoint(hooks_app, receiver.url)
            events.record("master_data.changed", customer=db.session.get(Customer, customers[0].id),
                          data={"changed": {"city": "Delft"}})
            db.session.commit()
    reads = [s for s in statements if s.startswith("SELECT webhook_endpoints.id, webhook_endpoints.event_types")]
    assert len(reads) == 2, reads
    assert len(deliveries(hooks_app)) == 3 + 2


def test_an_endpoint_that_does_not_answer_is_tried_once_per_batch(hooks_app, receiver, run_worker):
    """Three deliveries to a dead port in one job: one request; the other two share its
    outcome (a try, without an attempt row) and the same retry, and all three give up
    together. Another endpoint in the same batch is still posted to."""
    dead = add_endpoint(hooks_app, f"http://127.0.0.1:{free_port()}/nobody", ["email.provided"])
    live = add_endpoint(hooks_app, receiver.url, ["email.provided"])
    receiver.secret = live.secret
    customers = [factories.customer(email=None) for _ in range(3)]
    with hooks_app.app_context():
        for n, customer in enumerate(customers):
            provided_email.provide(db.session.get(Customer, customer.id), f"p{n}@example.com")
        db.session.commit()  # one transaction: the six deliveries go on the queue as one job
    run_worker()
    assert len(receiver.received) == 3
    rows = [d for d in deliveries(hooks_app) if d.endpoint_id == dead.id]
    assert [d.status for d in rows] == [DeliveryStatus.queued] * 3
    assert [d.attempts for d in rows] == [1, 1, 1]
    assert [len(attempts(hooks_app, d.id)) for d in rows] == [1, 0, 0]
    assert rows[1].last_error.startswith("Not tried: another delivery to this endpoint got no answer: ConnectionRefused")
    for _ in range(2):
        wait_for_retries(hooks_app)
        run_worker(with_scheduler=True)
    rows = [d for d in deliveries(hooks_app) if d.endpoint_id == dead.id]
    assert [d.status for d in rows] == [DeliveryStatus.failed] * 3
    assert [len(attempts(hooks_app, d.id)) for d in rows] == [3, 0, 0]
    assert all(d.last_error.startswith("gave up after 3 attempts") for d in rows)


def test_the_readmes_verification_snippet_accepts_a_real_delivery(hooks_app, receiver, run_worker):
    """The receiver's snippet in the README, run as written, against what the worker sent."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("**Verifying a delivery**"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    readme_verify = namespace["verify"]

    endpoint = add_endpoint(hooks_app, receiver.url)
    receiver.secret = endpoint.secret
    provide_email(hooks_app, factories.customer(email=None).id)
    run_worker()
    [got] = receiver.received
    header = got.headers["Dossier-Signature"]
    assert readme_verify(endpoint.secret, header, got.body)
    assert not readme_verify("whsec_wrong", header, got.body)
    assert not readme_verify(endpoint.secret, header, got.body.replace(b"provided", b"provideD"))
    stale = re.sub(r"t=\d+", f"t={int(time.time()) - 3600}", header)
    assert not readme_verify(endpoint.secret, stale, got.body)
