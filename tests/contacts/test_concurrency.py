"""The maximum of 10 contacts holds under truly concurrent requests (PostgreSQL only).

The session's app is served by a real threaded HTTP server; 20 staff members, each with
their own logged-in session cookie and CSRF token, post a new contact at the same moment
to a customer who has 9. The service locks the customer row (an UPDATE) before counting,
so exactly one add wins and the 19 others are refused with the form (422) — never an
11th contact, never a 500.

SQLite has a single writer and no row locks worth the name: the race is only meaningful
(and only reproducible) on PostgreSQL, so the test needs TEST_DATABASE_URL to point at one.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import db
from tests.concurrency import race, serve, staff_session
from tests.contacts.conftest import add_contacts, contacts, edit_data, new_data

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:")),
    reason="needs PostgreSQL (set TEST_DATABASE_URL=postgresql://...): SQLite serialises all writers, "
           "so the race on the contact maximum cannot happen there",
)

RACERS = 20


@pytest.fixture
def server(app):
    with serve(app) as port:
        yield port


def test_twenty_concurrent_adds_to_a_customer_with_nine_contacts(app, server, customer):
    add_contacts(app, customer, 9)
    sessions = [staff_session(app, n) for n in range(RACERS)]
    path = f"/admin/customers/{customer.id}/contacts"
    results = race(server, [
        (path, new_data(name=f"Racer Contact {n:02d}", email=f"racer{n:02d}@partner.example"), sessions[n])
        for n in range(RACERS)
    ])

    statuses = [status for status, _location, _body in results]
    assert -1 not in statuses and 500 not in statuses, [r[:2] for r in results]
    winners = [n for n, status in enumerate(statuses) if status in (200, 302)]
    assert len(winners) == 1, statuses
    assert sorted(statuses).count(422) == RACERS - 1, statuses
    (winner,) = winners
    if statuses[winner] == 302:
        assert results[winner][1].endswith(path)
    for n, (status, _location, body) in enumerate(results):
        if status == 422:  # each loser is told why, in its form row
            assert b"This customer has 10 contact persons, the maximum." in body, (n, body[:500])

    saved = contacts(app, customer)
    assert len(saved) == 10
    assert [c["name"] for c in saved if c["name"].startswith("Racer")] == [f"Racer Contact {winner:02d}"]
    with app.app_context():
        added = db.session.scalars(select(AuditEvent.actor_label).where(AuditEvent.action == "contact.added")).all()
        assert added == [f"Racer {winner} <racer{winner}@example.test>"]


def test_ten_contacts_saved_with_the_same_new_address_at_once(app, server, customer):
    """The customer lock and the address check run in the transaction that writes: one
    save takes the address, the other nine are told it is taken."""
    ids = add_contacts(app, customer, 10)
    sessions = [staff_session(app, n) for n in range(10)]
    taken = "shared@partner.example"
    results = race(server, [
        (f"/admin/customers/{customer.id}/contacts/{contact_id}",
         edit_data(contact_id, name=f"Person {n + 1:02d}", email=taken), sessions[n])
        for n, contact_id in enumerate(ids)
    ])

    statuses = [status for status, _location, _body in results]
    assert -1 not in statuses and 500 not in statuses, [r[:2] for r in results]
    assert sorted(statuses).count(422) == 9, statuses
    for status, _location, body in results:
        if status == 422:
            assert b"A contact person with this address exists already." in body, body[:500]
    assert [c["email"] for c in contacts(app, customer)].count(taken) == 1
