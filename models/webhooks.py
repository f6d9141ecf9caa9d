"""Outbound webhooks: the endpoints the business's own systems listen on, and one delivery
row per (event, endpoint), written in the event's transaction like an outbox e-mail.

The delivery row is the truth: RQ only carries its id, a lost job or a Redis outage is
repaired by `outbox flush`, and every HTTP attempt is kept (WebhookAttempt) for staff.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200))
    # The signing secret. Kept as is (not hashed): every delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret signs too (a second v1=) until it expires, so a
    # receiver can switch over without losing deliveries.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The event types it receives; an empty list: every type, including ones added later.
    event_types: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class DeliveryStatus(str, enum.Enum):
    queued = "queued"  # waiting for its first or next attempt (next_attempt_at)
    sending = "sending"  # claimed by a worker; a stale claim is taken again
    delivered = "delivered"  # the endpoint answered 2xx
    failed = "failed"  # gave up (3 days of retries), or the endpoint was disabled


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_status", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # None for a test delivery ("webhook.test"), which is no business event.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    event_type: Mapped[str] = mapped_column(String(60))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    # The JSON body exactly as sent (signed at each attempt with the time of that attempt).
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=20, validate_strings=True), default=DeliveryStatus.queued
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # of the current round (a resend starts one)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookAttempt(db.Model):
    """One HTTP request: what the endpoint answered (or why there was no answer) and how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
