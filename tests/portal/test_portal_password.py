"""A portal login changes its own password at /portal/password, and hides the account bar.

The current password first (a wrong one: 422, the message at its field), then the password
policy at the new one; a change is audited, ends every other session of the login while this
browser stays logged in, and sends the security notice to the login's own address alone."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import db
from models.outbox import OutboundEmail
from models.services import passwords
from tests import factories
from tests.conftest import field_error, soup_of
from tests.portal.conftest import (
    PORTAL_PASSWORD, account_bar, active_login, flashes, logged_in, page, portal_login, portal_user, post_form,
    session_token,
)

NEW_PASSWORD = "copper lantern meadow 93"


@pytest.fixture
def customer(app):
    return factories.customer(name="Anna Albers", email="anna@example.com", language="en")


@pytest.fixture
def anna(app, customer):
    active_login(app, customer, "anna.login@example.com")
    return "anna.login@example.com"


def change(client, current: str, new: str, repeat: str | None = None):
    return post_form(client, "/portal/password", {
        "current_password": current, "new_password": new,
        "confirm_password": new if repeat is None else repeat})


def notices(app) -> list[OutboundEmail]:
    with app.app_context():
        return list(db.session.scalars(
            select(OutboundEmail).where(OutboundEmail.template == "portal_security_notice",
                                        OutboundEmail.context["event"].as_string() == "password_changed")))


def password_events(app) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "portal_login.password_changed")))


def hash_of(app, email: str) -> str:
    return portal_user(app, email).password_hash


def test_the_page_is_linked_from_the_navigation(app, client, anna):
    soup = page(logged_in(client, anna), "/portal/")
    nav = soup.find("nav", attrs={"aria-label": "Portal"})
    assert nav.find("a", string="Password")["href"] == "/portal/password"
    soup = page(client, "/portal/password")
    assert soup.find("h1").get_text(strip=True) == "Change password"
    for label in ("Current password", "New password", "Repeat the new password"):
        assert soup.find("label", string=label) is not None, label


def test_a_wrong_current_password_is_refused_at_its_field(app, client, anna):
    before = hash_of(app, anna)
    response = change(logged_in(client, anna), "not my password at all", NEW_PASSWORD)
    assert response.status_code == 422
    assert field_error(soup_of(response), "Current password") == "The current password is not correct."
    assert hash_of(app, anna) == before and notices(app) == [] and password_events(app) == []


@pytest.mark.parametrize("new, message", [
    ("short", "Use at least 12 characters."),
    ("password12345", "This password is too common. Choose another one."),
    ("abababababab", "This password is too easy to guess. Choose another one."),
])
def test_a_weak_new_password_is_refused_at_its_field(app, client, anna, new, message):
    before = hash_of(app, anna)
    response = change(logged_in(client, anna), PORTAL_PASSWORD, new)
    assert response.status_code == 422
    assert field_error(soup_of(response), "New password") == message
    assert hash_of(app, anna) == before and notices(app) == []


def test_two_different_new_passwords_are_refused(app, client, anna):
    response = change(logged_in(client, anna), PORTAL_PASSWORD, NEW_PASSWORD, "copper lantern meadow 94")
    assert response.status_code == 422
    assert field_error(soup_of(response), "Repeat the new password") == "The two passwords differ."
    assert notices(app) == []


def test_a_change_keeps_this_browser_ends_the_others_and_tells_the_login_alone(app, anna, customer):
    here = logged_in(app.test_client(), anna)
    elsewhere = logged_in(app.test_client(), anna)

    response = change(here, PORTAL_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/portal/password"
    assert flashes(page(here, "/portal/password")) == ["Your password was changed. Other sessions have been logged out."]
    assert page(here, "/portal/").find("h1") is not None  # still logged in, same account
    gone = elsewhere.get("/portal/")
    assert gone.status_code == 302 and gone.headers["Location"].startswith("/portal/login")

    with app.app_context():
        assert passwords.verify_password(hash_of(app, anna), NEW_PASSWORD)
    assert portal_login(app.test_client(), anna, PORTAL_PASSWORD).status_code == 422
    assert portal_login(app.test_client(), anna, NEW_PASSWORD).status_code == 302

    [notice] = notices(app)
    assert notice.to_address == anna and notice.customer_id is None  # no customer: nobody in CC
    [event] = password_events(app)
    assert event.customer_id == customer.id and anna in event.actor_label


def test_the_page_needs_a_login(app, client, anna):
    response = client.get("/portal/password")
    assert response.status_code == 302 and response.headers["Location"].startswith("/portal/login")


# --- the account bar --------------------------------------------------------------------------------


def test_the_account_bar_is_hidden_with_a_plain_form_for_this_account(app, client, anna, customer):
    other = factories.customer(name="Bert Bakker", email="bert@example.com", language="en")
    active_login(app, other, anna)
    logged_in(client, anna)
    client.post("/portal/accounts", data={"csrf_token": _token(client), "customer_id": str(customer.id)})
    bar = account_bar(page(client, "/portal/documents"))
    assert "Anna Albers" in bar.get_text(" ", strip=True)
    assert bar.find("button", attrs={"aria-label": "Hide the account bar"}) is not None

    response = post_form(client, "/portal/account-bar/dismiss", {"next": "/portal/documents?"})
    assert response.status_code == 303 and response.headers["Location"] == "/portal/documents"
    assert account_bar(page(client, "/portal/documents")) is None
    assert account_bar(page(client, "/portal/")) is None

    # Another account shows its bar again.
    client.post("/portal/accounts", data={"csrf_token": _token(client), "customer_id": str(other.id)})
    assert "Bert Bakker" in account_bar(page(client, "/portal/")).get_text(" ", strip=True)


def test_the_account_bar_goes_without_a_reload_and_never_redirects_away(app, client, anna):
    logged_in(client, anna)
    response = post_form(client, "/portal/account-bar/dismiss", {"next": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.data == b""
    assert account_bar(page(client, "/portal/")) is None
    response = post_form(client, "/portal/account-bar/dismiss", {"next": "https://evil.example/portal/"})
    assert response.status_code == 303 and response.headers["Location"] == "/portal/"


def test_the_account_bar_cannot_be_dismissed_without_csrf_or_login(app, client, anna):
    assert client.post("/portal/account-bar/dismiss").status_code in (302, 400)
    logged_in(client, anna)
    assert client.post("/portal/account-bar/dismiss", data={}).status_code == 400
    assert account_bar(page(client, "/portal/")) is not None


def _token(client) -> str:
    return session_token(client)
