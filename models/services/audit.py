"""Writing audit events, and the diff helper that says what changed."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import select

from models.audit import AuditEvent
from models.db import db, now_utc
from models.services import bulk
from models.staff import StaffUser


# Who acts when no staff member does: "system", or e.g. an API key for the duration of
# `acting_as` (services called by the REST API and the CSV import record no staff actor).
_SYSTEM_LABEL: ContextVar[str] = ContextVar("audit_system_label", default="system")


def actor_label(actor: StaffUser | None) -> str:
    return f"{actor.name} <{actor.email}>" if actor else _SYSTEM_LABEL.get()


@contextmanager
def acting_as(label: str):
    """Audit events recorded without a staff actor inside the block carry `label`."""
    token = _SYSTEM_LABEL.set(label[:300])
    try:
        yield
    finally:
        _SYSTEM_LABEL.reset(token)


def record(
    actor: StaffUser | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    *,
    customer_id: int | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_staff_id=actor.id if actor else None,
        actor_label=actor_label(actor),
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        customer_id=customer_id,
        changes=changes or {},
    )
    db.session.add(event)
    return event


def record_many(actor: StaffUser | None, events: list[tuple[str, str, int | None, int | None, dict]]) -> None:
    """Many events at once, (action, entity_type, entity_id, customer_id, changes) each, in
    one statement (a batch run writes hundreds)."""
    if events:
        bulk.insert_rows(AuditEvent.__table__, [
            {"actor_staff_id": actor.id if actor else None, "actor_label": actor_label(actor), "action": action,
             "entity_type": entity_type, "entity_id": entity_id, "customer_id": customer_id,
             "changes": changes or {}, "at": now_utc()}
            for action, entity_type, entity_id, customer_id, changes in events])


def history(customer_id: int, limit: int = 20) -> list[AuditEvent]:
    """A customer's latest audit events, newest first (the Info tab's history)."""
    return list(db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.customer_id == customer_id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ))


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    """{field: [old, new]} for fields whose value changed, as JSON-safe strings."""
    def show(value):
        return None if value is None else str(value)

    return {
        key: [show(before.get(key)), show(value)]
        for key, value in after.items()
        if show(before.get(key)) != show(value)
    }
