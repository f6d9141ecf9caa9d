"""An invitation link and a password-reset link work once, even when the same link is
posted many times at the same moment (PostgreSQL only).

Each racer is a browser of its own: it opens the link's page over real HTTP (which gives
it an anonymous session cookie and the page's CSRF token), then all of them post their
own new password at once. Exactly one wins; the others are told the link is no longer
valid (or get the dead-link page), never a 500, and the password that holds is the
winner's -- nobody is logged in with a password the account does not have.

SQLite has a single writer: the race needs TEST_DATABASE_URL to point at PostgreSQL.
"""

from __future__ import annotations

import http.client
import json
import os
import re

import pytest
from sqlalchemy import func, select

from models.audit import AuditEvent
from models.db import db
from models.portal_access import PasswordReset, PortalAccess, PortalUser
from models.services import passwords, portal_access
from tests import factories
from tests.concurrency import race, serve
from tests.portal.conftest import invite

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:")),
    reason="needs PostgreSQL (set TEST_DATABASE_URL=postgresql://...): SQLite serialises all writers",
)

RACERS = 8
INVALID_INVITATION = b"This invitation link is no longer valid."
INVALID_RESET = b"This reset link is no longer valid. Ask for a new one."


@pytest.fixture
def server(app):
    with serve(app) as port:
        yield port


def browser_session(app, port: int, path: str, n: int) -> tuple[str, str]:
    """Open `path` like a browser of its own: (session cookie, CSRF token from the page)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"X-Racer": str(n)})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body[:300])
        name = app.config["SESSION_COOKIE_NAME"]
        cookies = [value for header, value in response.getheaders() if header.lower() == "set-cookie"]
        (cookie,) = [c.split(";", 1)[0] for c in cookies if c.startswith(name + "=")]
        token = json.loads(re.search(rb"hx-headers='([^']*)'", body).group(1))["X-CSRFToken"]
        return cookie, token
    finally:
        connection.close()


def race_anonymous(port: int, path: str, forms: list[dict], sessions: list[tuple[str, str]]):
    """POST each form to `path` with its own session, all released at the same moment:
    (status, Location, body) each."""
    return race(port, [(path, form, session) for form, session in zip(forms, sessions)], htmx=False)


def password_of(n: int) -> str:
    return f"racer {n} chose this passphrase"


def test_one_invitation_link_posted_at_once_activates_one_login(app, server):
    customer = factories.customer(name="Anna Albers", email="anna@example.com", language="en")
    access_id, token = invite(app, customer, "anna@example.com")
    path = f"/portal/invite/{token}"
    sessions = [browser_session(app, server, path, n) for n in range(RACERS)]

    results = race_anonymous(server, path, [
        {"password": password_of(n), "confirm": password_of(n)} for n in range(RACERS)], sessions)

    statuses = [status for status, _location, _body in results]
    assert -1 not in statuses and 500 not in statuses, [r[:2] for r in results]
    winners = [n for n, (status, location, _) in enumerate(results) if status == 302]
    assert len(winners) == 1, statuses
    assert results[winners[0]][1].endswith("/portal/")
    for n, (status, _location, body) in enumerate(results):
        if n != winners[0]:  # in the form (422) or the dead-link page (404)
            assert status in (404, 422), (n, status)
            assert status == 404 or INVALID_INVITATION in body, (n, body[:500])

    with app.app_context():
        access = db.session.get(PortalAccess, access_id)
        assert access.accepted_at is not None and access.invite_token_hash is None
        user = db.session.get(PortalUser, access.portal_user_id)
        holding = [n for n in range(RACERS) if passwords.verify_password(user.password_hash, password_of(n))]
        assert holding == winners
        accepted = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "portal_login.accepted")
        assert db.session.scalar(accepted) == 1


def test_one_reset_link_posted_at_once_sets_one_password(app, server):
    customer = factories.customer(name="Anna Albers", email="anna@example.com", language="en")
    _access_id, invitation = invite(app, customer, "anna@example.com")
    with app.app_context():
        user = portal_access.accept_invitation(invitation, "the very first passphrase")
        token = portal_access.mint_reset(user)
        db.session.commit()
    path = f"/portal/reset/{token}"
    sessions = [browser_session(app, server, path, n) for n in range(RACERS)]

    results = race_anonymous(server, path, [
        {"password": password_of(n), "confirm": password_of(n)} for n in range(RACERS)], sessions)

    statuses = [status for status, _location, _body in results]
    assert -1 not in statuses and 500 not in statuses, [r[:2] for r in results]
    winners = [n for n, (status, _location, _body) in enumerate(results) if status == 302]
    assert len(winners) == 1, statuses
    assert results[winners[0]][1].endswith("/portal/login")
    for n, (status, _location, body) in enumerate(results):
        if n != winners[0]:
            assert status == 422 and INVALID_RESET in body, (n, status, body[:500])

    with app.app_context():
        user = db.session.scalar(select(PortalUser).where(PortalUser.email == "anna@example.com"))
        holding = [n for n in range(RACERS) if passwords.verify_password(user.password_hash, password_of(n))]
        assert holding == winners
        assert db.session.scalar(select(PasswordReset.used_at)) is not None
