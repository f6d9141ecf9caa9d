"""Outbound webhooks: managing endpoints, fanning events out to them, and moving delivery
rows through queued → sending → delivered / failed.

Rows are written in the event's transaction (events.record calls fan_out); their ids reach
the queue only after that transaction commits (mailers.queue), so a rolled-back change
sends nothing. The worker (mailers.webhooks) signs and posts them.

Where an endpoint may point (decided here, checked when saved and again when sending):
https only, and a host on the public internet. Loopback and private networks are refused
unless the operator allows them: WEBHOOKS_ALLOW_HTTP (development and tests: http://, and
loopback and private addresses) or WEBHOOKS_ALLOW_PRIVATE (a receiver on the business's
own network, over https). Link-local (cloud metadata at 169.254.169.254), multicast and
reserved addresses are never allowed. A manager is trusted with settings, but a settings
page must not become a way to reach the server's own internals.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, update

from models.db import db, now_utc
from models.events import EVENT_TYPES, Event
from models.services import audit, bulk
from models.services.errors import DomainError, NotFound
from models.staff import StaffUser
from models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

PENDING_KEY = "webhook_pending_ids"
CLAIM_LEASE = timedelta(minutes=5)
# The old secret still signs this long after a rotation.
ROTATION_OVERLAP = timedelta(hours=24)
TEST_EVENT = "webhook.test"
MAX_ENDPOINTS = 20
URL_MAX = 2000


# --- where an endpoint may point --------------------------------------------------------


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_http: bool,
                    allow_private: bool) -> bool:
    """Whether a delivery may connect to this IP address (see the module docstring)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        return False
    if address.is_loopback:
        return allow_http
    if address.is_global:
        return True
    return allow_http or allow_private  # private networks, shared address space (100.64/10), …


def policy() -> dict[str, bool]:
    return {"allow_http": bool(current_app.config.get("WEBHOOKS_ALLOW_HTTP")),
            "allow_private": bool(current_app.config.get("WEBHOOKS_ALLOW_PRIVATE"))}


def check_url(raw: str | None) -> str:
    """The URL as stored, or a DomainError at the `url` field. A host name is resolved only
    when sending (it may not resolve from here yet); a literal address or `localhost` is
    judged now."""
    url = (raw or "").strip()
    if not url:
        raise DomainError(_l("Enter the endpoint's URL."), field="url")
    if len(url) > URL_MAX or any(c.isspace() or not c.isprintable() for c in url):
        raise DomainError(_l("Enter a valid URL, like https://example.com/dossier-hooks."), field="url")
    rules = policy()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an IPv6 address without its closing bracket
        raise DomainError(_l("Enter a valid URL, like https://example.com/dossier-hooks."), field="url") from None
    if parts.scheme.lower() != "https" and not (parts.scheme.lower() == "http" and rules["allow_http"]):
        raise DomainError(_l("The URL must start with https:// (deliveries are signed, and must also be private)."),
                          field="url")
    try:
        host, _port = parts.hostname, parts.port
    except ValueError:
        host = None
    if not host:
        raise DomainError(_l("Enter a valid URL, like https://example.com/dossier-hooks."), field="url")
    if parts.username is not None or parts.password is not None:
        raise DomainError(_l("Leave the user name and password out of the URL: the signature proves the sender."),
                          field="url")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = ipaddress.ip_address("127.0.0.1") if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") \
            or host.lower().rstrip(".").endswith(".localhost") else None
    if literal is not None and not address_allowed(literal, **rules):
        raise DomainError(_l("This address is on an internal network; deliveries go to addresses on the internet."),
                          field="url")
    return parts._replace(fragment="").geturl()


def check_event_types(types: Sequence[str] | None) -> list[str]:
    """The chosen types in EVENT_TYPES order; an empty list means every type."""
    chosen = set(types or ())
    unknown = chosen - set(EVENT_TYPES)
    if unknown:
        raise DomainError(_l("Choose event types from the list."), field="event_types")
    return [t for t in EVENT_TYPES if t in chosen]


# --- endpoints ----------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)  # 256 random bits


def endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound()
    return endpoint


def add_endpoint(actor: StaffUser, *, url: str | None, description: str | None,
                 event_types: Sequence[str] | None) -> WebhookEndpoint:
    """A new active endpoint with a fresh secret (the caller shows it to the manager)."""
    clean_url = check_url(url)
    types = check_event_types(event_types)
    if db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) >= MAX_ENDPOINTS:
        raise DomainError(_l("There are %(n)s endpoints, the maximum. Remove one first.", n=MAX_ENDPOINTS))
    endpoint = WebhookEndpoint(url=clean_url, description=(description or "").strip()[:200] or None,
                               secret=new_secret(), event_types=types, active=True)
    db.session.add(endpoint)
    db.session.flush()
    db.session.info.pop(_ENDPOINTS_KEY, None)
    audit.record(actor, "webhook.endpoint_added", "webhook_endpoint", endpoint.id,
                 changes={"url": [None, clean_url], "events": [None, ", ".join(types) or "all"]})
    return endpoint


def set_active(actor: StaffUser, endpoint: WebhookEndpoint, active: bool) -> None:
    """Disabled: no new deliveries, and waiting ones fail when their turn comes (Resend
    puts them back once it is enabled again)."""
    if endpoint.active == active:
        return
    endpoint.active = active
    db.session.info.pop(_ENDPOINTS_KEY, None)
    audit.record(actor, "webhook.endpoint_enabled" if active else "webhook.endpoint_disabled",
                 "webhook_endpoint", endpoint.id, changes={"url": [endpoint.url, endpoint.url]})


def delete_endpoint(actor: StaffUser, endpoint: WebhookEndpoint) -> None:
    """Gone with its deliveries and their attempts."""
    audit.record(actor, "webhook.endpoint_deleted", "webhook_endpoint", endpoint.id,
                 changes={"url": [endpoint.url, None]})
    # Explicitly, not by ON DELETE CASCADE alone: SQLite enforces foreign keys only when asked.
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries))
                       .execution_options(synchronize_session=False))
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                       .execution_options(synchronize_session=False))
    db.session.delete(endpoint)
    db.session.flush()
    db.session.info.pop(_ENDPOINTS_KEY, None)


def rotate_secret(actor: StaffUser, endpoint: WebhookEndpoint) -> str:
    """A new secret; the old one also signs for ROTATION_OVERLAP (a second v1= in the header)."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now_utc() + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    audit.record(actor, "webhook.secret_rotated", "webhook_endpoint", endpoint.id, changes={})
    return endpoint.secret


def masked(secret: str) -> str:
    return secret[:6] + "…" + secret[-4:]


def rotation_ends(endpoint: WebhookEndpoint, now: datetime | None = None) -> datetime | None:
    """Until when the previous secret still signs, if it does."""
    ends = endpoint.previous_secret_expires_at
    return ends if endpoint.previous_secret and ends is not None and ends > (now or now_utc()) else None


# --- signing --------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", in hex (Stripe's scheme)."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secrets_: Sequence[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets_)])


def signing_secrets(secret: str, previous: str | None, previous_expires_at: datetime | None,
                    now: datetime | None = None) -> list[str]:
    now = now or now_utc()
    if previous and previous_expires_at is not None and previous_expires_at > now:
        return [secret, previous]
    return [secret]


# --- fanning events out -----------------------------------------------------------------------


def _body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def event_body(event: Event) -> str:
    """What a receiver gets: the same shape as an event in the API's feed."""
    return _body({"id": event.id, "type": event.type, "created_at": event.created_at.isoformat(timespec="seconds"),
                  "customer_id": event.customer_id, "document_id": event.document_id, "data": event.data})


_ACTIVE = select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(WebhookEndpoint.active.is_(True))


def _pending(ids: Sequence[int]) -> None:
    db.session.info.setdefault(PENDING_KEY, set()).update(ids)


_ENDPOINTS_KEY = "webhook_endpoints"


def _active_endpoints() -> list[Row]:
    """The active endpoints, read once per transaction: an import that records thousands of
    events in one transaction asks once, not per event."""
    transaction = db.session().get_transaction()
    cached = db.session.info.get(_ENDPOINTS_KEY)
    if cached is None or cached[0] is not transaction:
        cached = (transaction, db.session.execute(_ACTIVE).all())
        db.session.info[_ENDPOINTS_KEY] = cached
    return cached[1]


def fan_out(event: Event) -> list[int]:
    """One delivery row per active endpoint that wants this type, in the caller's transaction
    (the endpoints read once per transaction; nothing more when no endpoint wants it)."""
    wanted = [row.id for row in _active_endpoints() if not row.event_types or event.type in row.event_types]
    if not wanted:
        return []
    if event.created_at is None:
        event.created_at = now_utc()
    body = event_body(event)
    ids = list(db.session.scalars(
        insert(WebhookDelivery).returning(WebhookDelivery.id),
        [{"endpoint_id": endpoint_id, "event_id": event.id, "event_type": event.type,
          "customer_id": event.customer_id, "body": body, "status": DeliveryStatus.queued, "attempts": 0,
          "created_at": now_utc()} for endpoint_id in wanted],
    ))
    _pending(ids)
    return ids


def fan_out_all(events: Sequence[Event]) -> list[int]:
    """fan_out for many events: the endpoints read once per transaction and one INSERT
    (bulk.insert_rows: one JSON parameter on PostgreSQL) whatever their number."""
    endpoints = _active_endpoints()
    rows = []
    for event in events:
        wanted = [row.id for row in endpoints if not row.event_types or event.type in row.event_types]
        if not wanted:
            continue
        if event.created_at is None:
            event.created_at = now_utc()
        body = event_body(event)
        rows += [{"endpoint_id": endpoint_id, "event_id": event.id, "event_type": event.type,
                  "customer_id": event.customer_id, "body": body, "status": DeliveryStatus.queued, "attempts": 0,
                  "created_at": now_utc()} for endpoint_id in wanted]
    if not rows:
        return []
    ids = sorted(row.id for row in bulk.insert_rows(WebhookDelivery.__table__, rows, returning=(WebhookDelivery.id,)))
    _pending(ids)
    return ids


def send_test(actor: StaffUser, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `webhook.test` delivery to this endpoint alone (it is no business event: not in the feed)."""
    if not endpoint.active:
        raise DomainError(_l("Enable the endpoint before sending it a test event."))
    now = now_utc()
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_type=TEST_EVENT, status=DeliveryStatus.queued,
                               attempts=0, created_at=now,
                               body=_body({"id": None, "type": TEST_EVENT, "created_at": now.isoformat(timespec="seconds"),
                                           "customer_id": None, "document_id": None,
                                           "data": {"endpoint": {"id": endpoint.id},
                                                    "message": "A test event sent from Dossier's settings."}}))
    db.session.add(delivery)
    db.session.flush()
    audit.record(actor, "webhook.test_sent", "webhook_endpoint", endpoint.id, changes={})
    _pending([delivery.id])
    return delivery


# --- the worker's side: claiming, recording ---------------------------------------------------


def _claimable(now: datetime):
    return or_(
        and_(WebhookDelivery.status == DeliveryStatus.queued,
             or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now)),
        and_(WebhookDelivery.status == DeliveryStatus.sending, WebhookDelivery.claimed_at < now - CLAIM_LEASE),
    )


CLAIMED_COLUMNS = (WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.event_type,
                   WebhookDelivery.body, WebhookDelivery.attempts)


def claim_batch(delivery_ids: Sequence[int], now: datetime | None = None) -> list[Row]:
    """Atomically take the claimable ones of these rows (one UPDATE … RETURNING) and commit."""
    if not delivery_ids:
        return []
    now = now or now_utc()
    rows = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(sorted(set(delivery_ids))), _claimable(now))
        .values(status=DeliveryStatus.sending, claimed_at=now, attempts=WebhookDelivery.attempts + 1)
        .returning(*CLAIMED_COLUMNS)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted(rows, key=lambda row: row.id)


def endpoints_by_id(endpoint_ids: set[int]) -> dict[int, Row]:
    return {row.id: row for row in db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret, WebhookEndpoint.previous_secret,
               WebhookEndpoint.previous_secret_expires_at, WebhookEndpoint.active)
        .where(WebhookEndpoint.id.in_(endpoint_ids)))}


def record_attempt(delivery_id: int, *, status_code: int | None, error: str | None, duration_ms: int,
                   outcome: str, retry_in: timedelta | None = None, attempted: bool = True) -> None:
    """The outcome of one attempt ("delivered", "retry" or "failed"), and the attempt itself.
    `attempted=False`: no request was made (the endpoint is disabled, or did not answer
    another delivery of the same batch: that counts as this delivery's try too, so all of a
    dead endpoint's deliveries give up together after the retry schedule). The caller commits."""
    now = now_utc()
    if attempted:
        db.session.execute(insert(WebhookAttempt).values(delivery_id=delivery_id, at=now, status_code=status_code,
                                                         error=error, duration_ms=duration_ms))
    values: dict[str, Any] = {"last_status_code": status_code, "last_error": error, "claimed_at": None}
    if outcome == "delivered":
        values.update(status=DeliveryStatus.delivered, delivered_at=now, next_attempt_at=None, last_error=None)
    elif outcome == "retry":
        values.update(status=DeliveryStatus.queued, next_attempt_at=now + (retry_in or timedelta(0)))
    else:
        values.update(status=DeliveryStatus.failed, next_attempt_at=None)
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values)
                       .execution_options(synchronize_session=False))


def due_ids(now: datetime | None = None, limit: int = 5000) -> list[int]:
    """Rows that should be on the queue: queued and due, or claimed by a dead worker."""
    now = now or now_utc()
    return list(db.session.scalars(
        select(WebhookDelivery.id).where(_claimable(now)).order_by(WebhookDelivery.id).limit(limit)))


def counts_by_status() -> dict[DeliveryStatus, int]:
    counts = dict.fromkeys(DeliveryStatus, 0)
    counts.update(dict(db.session.execute(
        select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)).all()))
    return counts


# --- what staff see, and Resend ---------------------------------------------------------------


_LOG_COLUMNS = (WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.event_id,
                WebhookDelivery.event_type, WebhookDelivery.customer_id, WebhookDelivery.status,
                WebhookDelivery.attempts, WebhookDelivery.created_at, WebhookDelivery.next_attempt_at,
                WebhookDelivery.delivered_at, WebhookDelivery.last_status_code, WebhookDelivery.last_error)
_OF_ENDPOINT = (select(*_LOG_COLUMNS).where(WebhookDelivery.endpoint_id == bindparam("endpoint_id"))
                .order_by(WebhookDelivery.id.desc()).limit(bindparam("limit")))
_OF_CUSTOMER = (select(*_LOG_COLUMNS, WebhookEndpoint.description)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.customer_id == bindparam("customer_id"))
                .order_by(WebhookDelivery.id.desc()).limit(bindparam("limit")))


def deliveries_of(endpoint: WebhookEndpoint, limit: int = 50) -> list[Row]:
    """The endpoint's latest deliveries, newest first (one query)."""
    return db.session.execute(_OF_ENDPOINT, {"endpoint_id": endpoint.id, "limit": limit}).all()


def deliveries_for_customer(customer_id: int, limit: int = 10) -> list[Row]:
    """The latest deliveries about one customer, to every endpoint (one query)."""
    return db.session.execute(_OF_CUSTOMER, {"customer_id": customer_id, "limit": limit}).all()


def attempts_of(delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    """Every attempt of these deliveries, oldest first (one query)."""
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        for attempt in db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids))
                                          .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)):
            found[attempt.delivery_id].append(attempt)
    return found


def get_delivery(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    delivery = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                                               WebhookDelivery.endpoint_id == endpoint.id))
    if delivery is None:
        raise NotFound()
    return delivery


def resend(actor: StaffUser, delivery: WebhookDelivery) -> WebhookDelivery:
    """Deliver again (the same body and Dossier-Delivery id, signed anew), with a fresh round
    of retries. A delivery still waiting or being sent is left as it is."""
    if delivery.status in (DeliveryStatus.queued, DeliveryStatus.sending):
        raise DomainError(_l("This delivery is still being tried; it cannot be resent now."))
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.active:
        raise DomainError(_l("Enable the endpoint before resending to it."))
    delivery.status = DeliveryStatus.queued
    delivery.attempts = 0
    delivery.next_attempt_at = None
    delivery.claimed_at = None
    audit.record(actor, "webhook.resent", "webhook_delivery", delivery.id, customer_id=delivery.customer_id,
                 changes={"event": [None, delivery.event_type]})
    db.session.flush()
    _pending([delivery.id])
    return delivery
