"""Writing audit events, and the diff helper that says what changed."""

from __future__ import annotations

from typing import Any

from models.audit import AuditEvent
from models.db import db
from models.staff import StaffUser


def actor_label(actor: StaffUser | None) -> str:
    return f"{actor.name} <{actor.email}>" if actor else "system"


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


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    """{field: [old, new]} for fields whose value changed, as JSON-safe strings."""
    def show(value):
        return None if value is None else str(value)

    return {
        key: [show(before.get(key)), show(value)]
        for key, value in after.items()
        if show(before.get(key)) != show(value)
    }
