"""Business events: what happened that the business's own systems want to learn.

One row per event, written in the transaction of the change that causes it. The id is the
cursor of the REST API's event feed (`GET /api/v1/events?after=<id>`), and each row is
fanned out to the webhook endpoints from the same table, so a rolled-back change is neither
listed nor delivered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc

# Every event type, named as the API and the webhooks name them.
EVENT_TYPES = (
    "payment.received",
    "quote.accepted",
    "quote.rejected",
    "question.asked",
    "email.provided",
    "instalment_plan.requested",
    "instalment_plan.approved",
    "contact_persons.changed",
    "master_data.changed",
)


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_customer_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # Kept when the customer or document goes: the payload names them too.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
