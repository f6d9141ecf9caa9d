"""Saving and removing one contact person at the same moment (PostgreSQL only).

Two colleagues have the same contact open: one saves a change, the other removes it, at
once. Whichever the database runs first, the answers are clean -- the remove succeeds
(200 fragment or 302), the save succeeds before it or finds the contact gone (404), a
second remove finds it gone too (200/302, or 404 if it looked after the first) -- never a 500. The contact is gone afterwards, removed once in the audit trail, and no
"updated" entry is written for a save that found nothing to update.

SQLite has a single writer: the race needs TEST_DATABASE_URL to point at PostgreSQL.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.db import db
from tests.concurrency import race, serve, staff_session
from tests.contacts.conftest import add_contacts, contacts, edit_data

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:")),
    reason="needs PostgreSQL (set TEST_DATABASE_URL=postgresql://...): SQLite serialises all writers",
)

PAIRS = 10


@pytest.fixture
def server(app):
    with serve(app) as port:
        yield port


def _audit(app, action: str) -> list[int]:
    with app.app_context():
        return sorted(db.session.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == action)))


@pytest.mark.parametrize("removes", [1, 2], ids=["save-and-remove", "save-and-two-removes"])
def test_a_contact_saved_and_removed_at_once_is_removed_cleanly(app, server, customer, removes):
    ids = add_contacts(app, customer, PAIRS)
    per_contact = 1 + removes
    sessions = [staff_session(app, n) for n in range(PAIRS * per_contact)]
    base = f"/admin/customers/{customer.id}/contacts"
    posts = []
    for n, contact_id in enumerate(ids):
        posts.append((f"{base}/{contact_id}", edit_data(contact_id, name=f"Renamed {n:02d}",
                                                        email=f"renamed{n:02d}@contacts.example"),
                      sessions[per_contact * n]))
        posts += [(f"{base}/{contact_id}/remove", {}, sessions[per_contact * n + k]) for k in range(1, per_contact)]

    results = race(server, posts)

    statuses = [status for status, _location, _body in results]
    assert -1 not in statuses and 500 not in statuses, [r[:2] for r in results]
    for n in range(PAIRS):
        save, *removals = statuses[per_contact * n:per_contact * (n + 1)]
        assert save in (200, 302, 404), statuses
        assert all(status in (200, 302, 404) for status in removals), statuses  # 404: found it gone

    assert contacts(app, customer) == []
    assert _audit(app, "contact.removed") == sorted(ids)  # each once, however many removes raced
    updated = _audit(app, "contact.updated")
    saved = [ids[n] for n in range(PAIRS) if statuses[per_contact * n] != 404]
    assert updated == sorted(saved)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action.like("contact.%"))) == PAIRS + len(saved)
