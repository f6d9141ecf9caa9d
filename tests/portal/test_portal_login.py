"""Logging in to the portal and out again, the rate limits, password resets, and portal and
staff sessions side by side in one browser."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit
from datetime import timedelta

import pytest
from sqlalchemy import select

from models.db import db, now_utc
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.portal_access import PasswordReset, PortalUser
from models.services import portal_access
from models.services.portal_access import RESET_VALID
from tests import factories
from tests.conftest import field_error, login, soup_of
from tests.portal.conftest import (
    OTHER_PASSWORD,
    PORTAL_PASSWORD,
    active_login,
    flashes,
    form_errors,
    heading,
    hx_token,
    invite,
    logged_in,
    page,
    portal_login,
    portal_logout,
    portal_user,
    post_form,
)

WRONG = "The e-mail address or password is not correct."
COOKIE = "__Host-dossier_session"


@pytest.fixture
def customer(app):
    return factories.customer(name="Anna Albers", email="anna@example.com", language="en")


@pytest.fixture
def anna(app, customer):
    active_login(app, customer, "anna@example.com")
    return "anna@example.com"


def without_csrf(body: bytes) -> str:
    """A page as a stranger would compare it: without the per-session CSRF tokens."""
    text = body.decode()
    text = re.sub(r"hx-headers='[^']*'", "", text)
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", text)


def mint_reset(app, email: str) -> str:
    with app.app_context():
        user = db.session.scalar(select(PortalUser).where(PortalUser.email == email))
        token = portal_access.mint_reset(user)
        db.session.commit()
        return token


def reset(client, token: str, password: str = OTHER_PASSWORD, confirm: str | None = None):
    return post_form(client, f"/portal/reset/{token}",
                     {"password": password, "confirm": password if confirm is None else confirm})


def outbox_resets(app) -> list[OutboundEmail]:
    with app.app_context():
        rows = list(db.session.scalars(
            select(OutboundEmail).where(OutboundEmail.template == "portal_password_reset").order_by(OutboundEmail.id)))
        db.session.expunge_all()
        return rows


# --- login and logout ------------------------------------------------------------------------


def test_login_opens_the_only_account_and_logout_ends_it(app, client, customer, anna):
    soup = page(client, "/portal/login")
    assert heading(soup) == "Log in to your customer portal"
    assert field_error(soup, "E-mail address") is None and field_error(soup, "Password") is None

    response = portal_login(client, " Anna@Example.COM ", PORTAL_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/portal/"
    home = page(client, "/portal/")
    assert heading(home) == "Anna Albers"
    assert home.find(class_="me").get_text(" ", strip=True).startswith("anna@example.com")
    assert portal_user(app, anna).last_login_at is not None

    response = portal_logout(client)
    assert response.status_code == 302 and response.headers["Location"] == "/portal/login"
    assert "You have been logged out." in flashes(page(client, "/portal/login"))
    gone = client.get("/portal/")
    assert gone.status_code == 302 and gone.headers["Location"].startswith("/portal/login?next=")


@pytest.mark.parametrize("password_state", ["wrong password", "unknown address", "invited, no password yet"])
def test_a_failed_login_says_the_same_whatever_went_wrong(app, customer, anna, password_state):
    invite(app, customer, "invited@example.com")
    email, password = {
        "wrong password": (anna, "not the password at all"),
        "unknown address": ("nobody@example.com", PORTAL_PASSWORD),
        "invited, no password yet": ("invited@example.com", PORTAL_PASSWORD),
    }[password_state]
    reference = portal_login(app.test_client(), anna, "not the password at all")

    client = app.test_client()
    response = portal_login(client, email, password)
    assert response.status_code == reference.status_code == 422
    soup = soup_of(response)
    assert form_errors(soup) == [WRONG]
    assert field_error(soup, "Password") is None and field_error(soup, "E-mail address") is None
    assert without_csrf(response.data).replace(email, anna) == without_csrf(reference.data)
    assert client.get("/portal/").status_code == 302


def test_empty_fields_are_named(app, client):
    response = post_form(client, "/portal/login", {"email": "", "password": ""})
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "E-mail address") and field_error(soup, "Password")


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/portal/preferences", "/portal/preferences"),
        ("/portal/?x=1", "/portal/?x=1"),
        ("/admin/", "/portal/"),
        ("/d/sometoken", "/portal/"),
        ("https://evil.example/portal/", "/portal/"),
        ("//evil.example/portal/", "/portal/"),
        ("/\\evil.example/portal/", "/portal/"),
        ("javascript:alert(1)", "/portal/"),
        ("/portal/../admin/", "/portal/"),
        ("/portal/%2e%2e/admin/", "/portal/"),
        ("/portalx/", "/portal/"),
    ],
)
def test_next_leads_only_to_local_portal_pages(app, client, anna, next_url, expected):
    from urllib.parse import quote

    response = portal_login(client, anna, next_url=quote(next_url, safe=""))
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_the_login_page_carries_next_through_a_failed_attempt(app, client, anna):
    response = portal_login(client, anna, "wrong password here", next_url="/portal/preferences")
    form = soup_of(response).find("form", method="post")
    assert parse_qs(urlsplit(form["action"]).query) == {"next": ["/portal/preferences"]}
    response = post_form(client, form["action"], {"email": anna, "password": PORTAL_PASSWORD})
    assert response.headers["Location"] == "/portal/preferences"


def test_a_page_behind_the_login_comes_back_after_logging_in(app, client, anna):
    response = client.get("/portal/preferences")
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert login_url.startswith("/portal/login?next=")
    response = post_form(client, login_url, {"email": anna, "password": PORTAL_PASSWORD})
    assert response.headers["Location"].startswith("/portal/preferences")
    assert heading(page(client, response.headers["Location"])) == "E-mail preferences"


def test_login_renews_the_session(app, client, anna):
    page(client, "/portal/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    before = client.get_cookie(COOKIE).value
    csrf_before = _csrf_of(client)

    assert portal_login(client, anna).status_code == 302
    assert client.get_cookie(COOKIE).value != before
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["portal"]["u"] and session["portal"]["c"]
    assert _csrf_of(client) != csrf_before  # a new CSRF secret too


def _csrf_of(client):
    with client.session_transaction() as session:
        return session.get("csrf_token")


def test_logout_ends_every_session_of_the_login(app, anna):
    first = logged_in(app.test_client(), anna)
    second = logged_in(app.test_client(), anna)
    stolen_cookie = first.get_cookie(COOKIE).value
    assert second.get("/portal/").status_code == 200

    portal_logout(first)
    response = second.get("/portal/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/portal/login")
    assert second.get("/portal/preferences").status_code == 302

    replay = app.test_client()  # the cookie as it was before logging out
    replay.set_cookie(COOKIE, stolen_cookie)
    assert replay.get("/portal/").status_code == 302
    # logging in again works
    assert logged_in(app.test_client(), anna).get("/portal/").status_code == 200


def test_logout_needs_the_csrf_token(app, anna):
    client = logged_in(app.test_client(), anna)
    assert client.post("/portal/logout").status_code == 400
    assert client.post("/portal/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/portal/").status_code == 200


# --- rate limits --------------------------------------------------------------------------------


def test_five_attempts_a_minute_per_account(app, anna):
    client = app.test_client()
    for _ in range(5):
        assert portal_login(client, anna, "guessing the password").status_code == 422
    blocked = portal_login(client, anna, PORTAL_PASSWORD)  # even the right password waits now
    assert blocked.status_code == 429
    assert "Too many attempts" in soup_of(blocked).get_text()
    # the same address in another spelling is the same account
    assert portal_login(app.test_client(), "ANNA@example.com", PORTAL_PASSWORD).status_code == 429
    # another address from the same place is not blocked
    assert portal_login(client, "someone@example.com", "whatever password").status_code == 422


def test_twenty_attempts_a_minute_per_ip(app, anna):
    client = app.test_client()
    for n in range(20):
        assert portal_login(client, f"guess{n}@example.com", "guessing the password").status_code == 422
    assert portal_login(client, anna, PORTAL_PASSWORD).status_code == 429
    # another IP address still gets in
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert portal_login(elsewhere, anna, PORTAL_PASSWORD).status_code == 302


def test_the_forgot_form_is_rate_limited_per_account(app, client, anna):
    for _ in range(5):
        assert post_form(client, "/portal/forgot", {"email": anna}).status_code == 302
    assert post_form(client, "/portal/forgot", {"email": anna}).status_code == 429
    assert len(outbox_resets(app)) == 5


# --- password reset -------------------------------------------------------------------------------


def test_forgot_answers_the_same_for_known_and_unknown_addresses(app, customer, anna):
    invite(app, customer, "invited@example.com")
    answers = {}
    for email in (anna, "nobody@example.com", "invited@example.com", "Anna@Example.com"):
        client = app.test_client()
        soup = page(client, "/portal/forgot")
        assert heading(soup) == "Forgot your password?"
        response = post_form(client, "/portal/forgot", {"email": email})
        landing = client.get(response.headers["Location"])
        answers[email] = (response.status_code, response.headers["Location"], landing.status_code,
                          tuple(flashes(soup_of(landing))), without_csrf(landing.data))
    assert len(set(answers.values())) == 1, answers
    status, location, _, messages, _ = answers[anna]
    assert (status, location) == (302, "/portal/login")
    assert messages == ("If this address has a login, we have sent it a link to choose a new password.",)

    # mail only for the address with a login (twice: two spellings); the other requests
    # wrote a row settled as not sent (tests/portal/test_forgot_same_work.py)
    rows = [r for r in outbox_resets(app) if r.status == MailStatus.queued]
    assert [r.to_address for r in rows] == [anna, anna]
    assert all(r.category == MailCategory.system and r.customer_id is None for r in rows)
    assert all("token" not in str(r.context).lower() for r in rows)


def test_a_reset_link_sets_a_new_password_without_logging_in(app, client, anna):
    session_elsewhere = logged_in(app.test_client(), anna)
    token = mint_reset(app, anna)

    soup = page(client, f"/portal/reset/{token}")
    assert heading(soup) == "Choose a new password"
    assert soup.find("meta", attrs={"name": "referrer"})["content"] == "no-referrer"
    assert field_error(soup, "New password") is None and field_error(soup, "Repeat the password") is None

    response = reset(client, token)
    assert response.status_code == 302 and response.headers["Location"] == "/portal/login"
    landing = page(client, "/portal/login")
    assert "Your password was changed. Log in with the new password." in flashes(landing)
    assert client.get("/portal/").status_code == 302  # not logged in by the link
    with client.session_transaction() as session:
        assert "portal" not in session

    assert portal_login(app.test_client(), anna, PORTAL_PASSWORD).status_code == 422
    assert portal_login(app.test_client(), anna, OTHER_PASSWORD).status_code == 302
    # sessions that existed before the change are over
    assert session_elsewhere.get("/portal/").status_code == 302


def test_a_reset_link_works_once(app, client, anna):
    token = mint_reset(app, anna)
    assert reset(client, token).status_code == 302
    again = reset(app.test_client(), token, "a third long password")
    assert again.status_code == 422
    assert form_errors(soup_of(again)) == ["This reset link is no longer valid. Ask for a new one."]
    assert portal_login(app.test_client(), anna, "a third long password").status_code == 422


def test_a_reset_link_expires_after_one_hour(app, client, anna):
    token = mint_reset(app, anna)
    with app.app_context():
        row = db.session.scalar(select(PasswordReset))
        assert RESET_VALID == timedelta(hours=1)
        assert abs(row.expires_at - row.created_at - RESET_VALID) < timedelta(seconds=5)
        assert len(row.token_hash) == 64 and token not in row.token_hash
        row.expires_at = now_utc() - timedelta(seconds=1)
        db.session.commit()
    response = reset(client, token)
    assert response.status_code == 422
    assert form_errors(soup_of(response)) == ["This reset link is no longer valid. Ask for a new one."]
    assert portal_login(app.test_client(), anna, PORTAL_PASSWORD).status_code == 302


@pytest.mark.parametrize("change", ["another reset link", "password change"])
def test_a_reset_link_is_void_after_any_later_password_change(app, client, anna, change):
    token = mint_reset(app, anna)
    if change == "another reset link":
        assert reset(app.test_client(), mint_reset(app, anna), "changed in between 1").status_code == 302
    else:
        with app.app_context():
            user = db.session.scalar(select(PortalUser).where(PortalUser.email == anna))
            portal_access.change_password(user, PORTAL_PASSWORD, "changed in between 1")
            db.session.commit()
    response = reset(client, token)
    assert response.status_code == 422
    assert form_errors(soup_of(response)) == ["This reset link is no longer valid. Ask for a new one."]
    assert portal_login(app.test_client(), anna, "changed in between 1").status_code == 302


@pytest.mark.parametrize(
    ("password", "confirm", "label", "message"),
    [
        ("too short", None, "New password", "Use at least 12 characters."),
        ("password1234", None, "New password", "This password is too common. Choose another one."),
        (OTHER_PASSWORD, OTHER_PASSWORD + "!", "Repeat the password", "The two passwords differ."),
    ],
)
def test_a_weak_new_password_is_refused_and_the_link_still_works(app, client, anna, password, confirm,
                                                                  label, message):
    token = mint_reset(app, anna)
    response = reset(client, token, password, confirm)
    assert response.status_code == 422
    assert field_error(soup_of(response), label) == message
    assert reset(client, token).status_code == 302


def test_an_unknown_reset_token_is_refused(app, client, anna):
    response = reset(client, "A" * 43)
    assert response.status_code == 422
    assert form_errors(soup_of(response)) == ["This reset link is no longer valid. Ask for a new one."]


def test_a_used_or_unknown_reset_link_says_so_before_a_password_is_typed(app, client, anna):
    token = mint_reset(app, anna)
    assert page(client, f"/portal/reset/{token}").find("input", attrs={"type": "password"}) is not None
    assert reset(client, token).status_code == 302
    for dead in (token, "A" * 43):
        soup = page(app.test_client(), f"/portal/reset/{dead}", expect=404)
        assert heading(soup) == "This reset link is no longer valid. Ask for a new one."
        assert soup.find("input", attrs={"type": "password"}) is None
        assert soup.find("a", string="Ask for a new link")["href"] == "/portal/forgot"


# --- staff and portal in one browser --------------------------------------------------------------


@pytest.mark.parametrize("first", ["staff", "portal"])
def test_staff_and_portal_sessions_live_side_by_side(app, client, owner, anna, first):
    def staff_in():
        login(client, owner)

    def portal_in():
        logged_in(client, anna)

    for step in ((staff_in, portal_in) if first == "staff" else (portal_in, staff_in)):
        step()
    assert client.get("/admin/customers").status_code == 200
    assert heading(page(client, "/portal/")) == "Anna Albers"

    # logging out of one leaves the other
    assert portal_logout(client).status_code == 302
    assert client.get("/admin/customers").status_code == 200
    assert client.get("/portal/").status_code == 302

    logged_in(client, anna)
    token = hx_token(soup_of(client.get("/admin/account")))
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/customers").headers["Location"].startswith("/admin/login")
    assert heading(page(client, "/portal/")) == "Anna Albers"



@pytest.mark.parametrize(("clock", "age"), [("s", timedelta(minutes=61)), ("t", timedelta(hours=12, minutes=1))],
                         ids=["idle for an hour", "older than twelve hours"])
def test_a_portal_session_ends_after_an_idle_hour_or_twelve_hours(app, client, anna, clock, age):
    logged_in(client, anna)
    assert client.get("/portal/").status_code == 200
    with client.session_transaction() as session:
        session["portal"] = {**session["portal"], clock: session["portal"][clock] - int(age.total_seconds())}
    response = client.get("/portal/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/portal/login")
    with client.session_transaction() as session:
        assert "portal" not in session


def test_the_account_switcher_speaks_the_open_accounts_language(app, client):
    """Every page of an open account is in its customer's language; the switcher, with the
    same navigation and account bar, too (the browser's language only before one is open)."""
    kunde = factories.customer(name="Kunde GmbH", email="kunde@example.de", language="de")
    klant = factories.customer(name="Klant BV", email="klant@example.nl", language="nl")
    active_login(app, kunde, "beide@example.com")
    active_login(app, klant, "beide@example.com")
    logged_in(client, "beide@example.com")
    english = {"Accept-Language": "en"}
    assert heading(soup_of(client.get("/portal/accounts", headers=english))) == "Choose an account"
    post_form(client, "/portal/accounts", {"customer_id": str(kunde.id)})
    switcher = soup_of(client.get("/portal/accounts", headers=english))
    assert heading(switcher) == "Kundenkonto auswählen"
    assert switcher.find("a", string="Kundenkonto wechseln")["href"] == "/portal/accounts"
    assert heading(soup_of(client.get("/portal/", headers=english))) == "Kunde GmbH"
