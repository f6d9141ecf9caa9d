"""Accepting an invitation: a new login chooses its password and lands on its customer's
portal home; weak passwords are refused next to the field; every dead link (expired, used,
replaced, revoked, unknown) gets a clear page and never a 500; an identity that already has
a password keeps it and gains the second customer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.db import db, now_utc
from models.services import portal_access
from models.services.portal_access import COMMON_PASSWORDS, INVITATION_VALID
from models.staff import StaffUser
from tests import factories
from tests.conftest import field_error, soup_of
from tests.portal.conftest import (
    OTHER_PASSWORD,
    PORTAL_PASSWORD,
    access_row,
    account_bar,
    active_login,
    flashes,
    heading,
    invite,
    logged_in,
    new_invitation_token,
    open_buttons,
    page,
    portal_login,
    portal_user,
    post_form,
    with_access,
)

EXPIRED_HEADING = "This invitation has expired"
INVALID_HEADING = "This invitation link is no longer valid"


@pytest.fixture
def customer(app):
    return factories.customer(name="Anna Albers", email="anna@example.com", language="en")


def accept(client, token: str, password: str | None = PORTAL_PASSWORD, confirm: str | None = None):
    data = {} if password is None else {"password": password, "confirm": password if confirm is None else confirm}
    return post_form(client, f"/portal/invite/{token}", data)


# --- a new login ------------------------------------------------------------------------------


def test_accepting_sets_the_password_and_opens_the_customers_portal(app, client, customer):
    access_id, token = invite(app, customer, "Anna@Example.com")

    soup = page(client, f"/portal/invite/{token}")
    assert heading(soup) == "Activate your login"
    assert "anna@example.com" in soup.get_text()
    assert soup.find("meta", attrs={"name": "referrer"})["content"] == "no-referrer"  # the token stays here
    assert field_error(soup, "Choose a password") is None
    assert field_error(soup, "Repeat the password") is None

    response = accept(client, token)
    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/"

    home = page(client, "/portal/")
    assert heading(home) == "Anna Albers"
    assert "Welcome! Your login is active." in flashes(home)
    assert account_bar(home).get_text(" ", strip=True).startswith(f"Account: Anna Albers ({customer.number})")

    access = access_row(app, access_id)
    assert access.accepted_at is not None and access.invite_token_hash is None and access.status == "active"
    user = portal_user(app, "anna@example.com")
    assert user.password_hash and PORTAL_PASSWORD not in user.password_hash

    # the chosen password is the login's password from now on
    other = app.test_client()
    assert portal_login(other, "anna@example.com").headers["Location"] == "/portal/"
    assert heading(page(other, "/portal/")) == "Anna Albers"


def test_the_accept_page_speaks_the_customers_language(app, client):
    dutch = factories.customer(name="Dirk de Vries", language="nl")
    _, token = invite(app, dutch, "dirk@example.com")

    soup = page(client, f"/portal/invite/{token}", expect=200)
    assert soup.html["lang"] == "nl"
    assert field_error(soup, "Kies een wachtwoord") is None
    assert field_error(soup, "Herhaal het wachtwoord") is None


@pytest.mark.parametrize(
    ("password", "confirm", "label", "message"),
    [
        ("short pass", None, "Choose a password", "Use at least 12 characters."),
        ("", None, "Choose a password", "Use at least 12 characters."),
        ("password1234", None, "Choose a password", "This password is too common. Choose another one."),
        ("PassWord1234", None, "Choose a password", "This password is too common. Choose another one."),
        ("qwertyuiop123", None, "Choose a password", "This password is too common. Choose another one."),
        (PORTAL_PASSWORD, PORTAL_PASSWORD + "x", "Repeat the password", "The two passwords differ."),
    ],
    ids=["short", "empty", "common", "common-any-case", "common-keyboard", "mismatch"],
)
def test_a_weak_or_mistyped_password_is_refused_next_to_its_field(app, client, customer, password, confirm,
                                                                     label, message):
    assert password == "" or len(password) < 12 or password.lower() in COMMON_PASSWORDS or confirm
    access_id, token = invite(app, customer, "anna@example.com")

    response = accept(client, token, password, confirm)
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, label) == message
    assert heading(soup) == "Activate your login"

    assert access_row(app, access_id).accepted_at is None
    assert portal_user(app, "anna@example.com").password_hash is None
    assert client.get("/portal/").status_code == 302  # not logged in
    # the link still works: the person can try again
    assert accept(client, token).status_code == 302


# --- dead links -------------------------------------------------------------------------------


def _expired(app, access_id, token, owner):
    with_access(app, access_id, lambda a, c: setattr(a, "invite_expires_at", now_utc() - timedelta(seconds=1)))
    return token


def _accepted(app, access_id, token, owner):
    with_access(app, access_id, lambda a, c: portal_access.accept_invitation(token, PORTAL_PASSWORD))
    return token


def _resent(app, access_id, token, owner):
    with_access(app, access_id, lambda a, c: portal_access.resend_invitation(db.session.get(StaffUser, owner.id), c, a))
    new_invitation_token(app, access_id)  # the new mail goes out with a new link
    return token


def _address_changed(app, access_id, token, owner):
    with_access(app, access_id, lambda a, c: portal_access.change_login_email(
        db.session.get(StaffUser, owner.id), c, a, "anna.new@example.com"))
    new_invitation_token(app, access_id)
    return token


def _revoked(app, access_id, token, owner):
    with_access(app, access_id, lambda a, c: portal_access.set_login(db.session.get(StaffUser, owner.id), c, a, False))
    return token


def _unknown(app, access_id, token, owner):
    return token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")


@pytest.mark.parametrize(
    ("make_dead", "status", "title"),
    [
        (_expired, 410, EXPIRED_HEADING),
        (_accepted, 404, INVALID_HEADING),
        (_resent, 404, INVALID_HEADING),
        (_address_changed, 404, INVALID_HEADING),
        (_revoked, 404, INVALID_HEADING),
        (_unknown, 404, INVALID_HEADING),
    ],
    ids=["expired", "used", "replaced-by-resend", "replaced-by-address-change", "revoked", "unknown"],
)
def test_a_dead_link_gets_a_clear_page_and_never_logs_in(app, client, customer, owner, make_dead, status, title):
    access_id, token = invite(app, customer, "anna@example.com", staff=owner)
    dead = make_dead(app, access_id, token, owner)
    accepted_before = access_row(app, access_id).accepted_at

    shown = client.get(f"/portal/invite/{dead}")
    assert shown.status_code == status
    soup = soup_of(shown)
    assert heading(soup) == title
    assert soup.find("a", string=lambda s: s and "Go to the login page" in s)["href"] == "/portal/login"
    assert soup.find("label", string=lambda s: s and s.strip() == "Choose a password") is None

    posted = accept(client, dead, OTHER_PASSWORD)
    assert posted.status_code == status
    assert heading(soup_of(posted)) == title

    assert access_row(app, access_id).accepted_at == accepted_before
    assert client.get("/portal/").status_code == 302
    assert portal_login(app.test_client(), "anna@example.com", OTHER_PASSWORD).status_code in (403, 422)


@pytest.mark.parametrize("token", ["x", "A" * 43, "%00", "a" * 500, "..", "😀" * 10])
def test_garbage_tokens_are_just_unknown(app, client, token):
    for response in (client.get(f"/portal/invite/{token}"), accept(client, token)):
        assert response.status_code == 404
        assert heading(soup_of(response)) == INVALID_HEADING


def test_an_invitation_expires_after_seven_days(app, client, customer):
    access_id, token = invite(app, customer, "anna@example.com")
    access = access_row(app, access_id)
    assert INVITATION_VALID == timedelta(days=7)
    assert abs(access.invite_expires_at - access.invited_at - INVITATION_VALID) < timedelta(seconds=5)

    with_access(app, access_id, lambda a, c: setattr(a, "invite_expires_at", now_utc() + timedelta(minutes=1)))
    assert client.get(f"/portal/invite/{token}").status_code == 200
    with_access(app, access_id, lambda a, c: setattr(a, "invite_expires_at", now_utc() - timedelta(minutes=1)))
    assert client.get(f"/portal/invite/{token}").status_code == 410


def test_only_a_hash_of_the_token_is_stored(app, customer):
    access_id, token = invite(app, customer, "anna@example.com")
    stored = access_row(app, access_id).invite_token_hash
    assert len(stored) == 64 and token not in stored
    assert len(token) >= 43  # 256 bits, url-safe base64


# --- an identity that already has a password ---------------------------------------------------


def test_an_existing_login_keeps_its_password_and_gains_the_second_customer(app, client, customer):
    active_login(app, customer, "anna@example.com")
    second = factories.customer(name="Bakery Bos", language="en")
    access_id, token = invite(app, second, "ANNA@example.com")

    soup = page(client, f"/portal/invite/{token}")
    assert heading(soup) == "Activate your login"
    assert soup.find("label", string=lambda s: s and s.strip() == "Choose a password") is None
    assert "You already have a password for this address" in soup.get_text()

    # a password sent anyway (a tampered form) changes nothing
    response = accept(client, token, OTHER_PASSWORD)
    assert response.status_code == 302
    assert access_row(app, access_id).accepted_at is not None
    landing = page(client, response.headers["Location"])
    assert heading(landing) == "Log in to your customer portal"
    assert "The account was added to your login. Log in with your password." in flashes(landing)

    assert portal_login(app.test_client(), "anna@example.com", OTHER_PASSWORD).status_code == 422
    browser = app.test_client()
    response = portal_login(browser, "anna@example.com", PORTAL_PASSWORD)
    assert response.headers["Location"] == "/portal/accounts"  # two accounts: choose one
    buttons = open_buttons(page(browser, "/portal/accounts"))
    assert buttons == [f"Open Anna Albers ({customer.number})", f"Open Bakery Bos ({second.number})"]
    # the link is used up
    assert client.get(f"/portal/invite/{token}").status_code == 404


def test_two_pending_invitations_for_one_address_share_the_password_chosen_first(app, client, customer):
    second = factories.customer(name="Bakery Bos", language="en")
    _, first_token = invite(app, customer, "anna@example.com")
    _, second_token = invite(app, second, "anna@example.com")

    assert accept(client, first_token).status_code == 302
    soup = page(app.test_client(), f"/portal/invite/{second_token}")
    assert soup.find("label", string=lambda s: s and s.strip() == "Choose a password") is None
    assert accept(app.test_client(), second_token, None).status_code == 302

    browser = logged_in(app.test_client(), "anna@example.com")
    assert len(open_buttons(page(browser, "/portal/accounts"))) == 2
