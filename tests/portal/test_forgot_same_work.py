"""`/portal/forgot` does the same work whether or not the address has a login.

Not timed (a timing assertion is flaky by nature): the request path is the same by
construction, and that is what is asserted -- the same answer, the same SQL statements in
the same order (one look-up, one outbox row written, one commit) and one row handed to the
queue. For an address without a login the row is written already settled ("not sent"): no
worker can claim it, so it never becomes a mail, and it keeps no trace of the typed address.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailers import queue as mail_queue
from models.db import db
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.services import outbox
from tests import factories
from tests.conftest import count_queries, soup_of
from tests.portal.conftest import active_login, flashes, invite, post_form
from tests.portal.test_portal_login import without_csrf

ANNA = "anna@example.com"


@pytest.fixture
def customer(app):
    customer = factories.customer(name="Anna Albers", email="office@example.com", language="en")
    active_login(app, customer, ANNA)
    invite(app, customer, "invited@example.com")  # a login that has no password yet
    return customer


@pytest.fixture
def enqueued(monkeypatch):
    """The outbox ids each commit hands to the mail queue (Redis itself is not under test here)."""
    batches: list[list[int]] = []

    def enqueue_many(ids, channel=mail_queue.MAIL):
        if channel is mail_queue.MAIL:
            batches.append(list(ids))
        return len(ids)

    monkeypatch.setattr(mail_queue, "enqueue_many", enqueue_many)
    return batches


def _forgot(app, email: str):
    client = app.test_client()
    client.get("/portal/forgot")
    with count_queries(app, lambda conn, statement: statement) as statements:
        response = post_form(client, "/portal/forgot", {"email": email})
    landing = client.get(response.headers["Location"])
    answer = (response.status_code, response.headers["Location"], landing.status_code,
              tuple(flashes(soup_of(landing))), without_csrf(landing.data))
    return answer, statements


ADDRESSES = [ANNA, "Anna@Example.com", "nobody@example.com", "invited@example.com", "office@example.com"]


def test_forgot_does_the_same_work_for_every_address(app, customer, enqueued):
    answers, statements = {}, {}
    for email in ADDRESSES:
        answers[email], statements[email] = _forgot(app, email)
    assert len(set(answers.values())) == 1, answers
    assert answers[ANNA][:2] == (302, "/portal/login")
    # the same statements, in the same order, for every address: one look-up, one row written
    assert len({tuple(s) for s in statements.values()}) == 1, statements
    insert = f"INSERT INTO {OutboundEmail.__tablename__} "
    assert sum(s.lstrip().startswith(insert) for s in statements[ANNA]) == 1
    assert [len(batch) for batch in enqueued] == [1] * len(ADDRESSES)  # one row queued each time


def test_only_an_address_with_a_login_gets_a_reset_mail(app, customer, enqueued):
    """An active login gets a reset link; a login never activated gets its invitation again
    (the activation banner of customer e-mails sends its owner here); others get nothing."""
    with app.app_context():
        before = set(db.session.scalars(select(OutboundEmail.id)))
    for email in ADDRESSES:
        _forgot(app, email)
    with app.app_context():
        rows = [r for r in db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.id)) if r.id not in before]
        assert len(rows) == len(ADDRESSES)
        sendable = [r for r in rows if r.status == MailStatus.queued]
        assert [(r.template, r.to_address) for r in sendable] == [
            ("portal_password_reset", ANNA), ("portal_password_reset", ANNA), ("portal_invitation", "invited@example.com")]
        settled = [r for r in rows if r.status != MailStatus.queued]
        assert [(r.status, r.to_address, r.context.get("portal_user_id")) for r in settled] == \
            [(MailStatus.failed, None, None)] * 2  # nothing of the typed address is kept
        assert all(r.category == MailCategory.system and r.customer_id is None for r in rows if r not in sendable[2:])
        # a worker handed these ids can claim only the real ones
        claimed = outbox.claim_batch([r.id for r in rows])
        assert sorted(row.id for row in claimed) == sorted(r.id for r in sendable)
