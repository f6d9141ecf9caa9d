"""One login, several customers, and nothing of one customer ever shown to a login of another.

Every /portal route in the URL map is tried by a login of customer A against customer B: with
B's id in the query and the form, with B's record ids in the path, and with a session that
still names B as the open account (as after a revoked access). The answer is A's data, the
switcher, the login page or a 404 — never a trace of B, never a 500.
"""

from __future__ import annotations

import re

import pytest

from models.contacts import ContactPerson
from models.db import db
from models.portal_access import PortalAccess
from models.services import customers as customer_service
from models.services import portal_access
from models.staff import StaffUser
from tests import factories
from tests.conftest import TEST_CONFIG, soup_of
from tests.portal.conftest import (
    access_row,
    account_bar,
    active_login,
    form_errors,
    heading,
    logged_in,
    open_buttons,
    page,
    portal_login,
    post_form,
    session_token,
)
from wsgi import create_app

SKIP_METHODS = {"HEAD", "OPTIONS"}


def _portal_routes() -> list[tuple[str, str]]:
    """(rule, method) for every /portal route, read from an app's URL map at collection."""
    throwaway = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return sorted(
        (rule.rule, method)
        for rule in throwaway.url_map.iter_rules()
        if rule.rule.startswith("/portal")
        for method in rule.methods - SKIP_METHODS
    )


PORTAL_ROUTES = _portal_routes()
# One-click unsubscribe (RFC 8058) is the one POST without a CSRF token: mail providers send
# it with no cookie; its signed token is the check (tests/mailers/test_contact_preferences.py).
POST_ROUTES = [route for route in PORTAL_ROUTES if route[1] == "POST" and route[0] != "/portal/unsubscribe/<token>"]


def test_the_parametrised_routes_are_the_apps_routes(app):
    assert PORTAL_ROUTES == sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/portal")
        for method in rule.methods - SKIP_METHODS
    )
    assert ("/portal/", "GET") in PORTAL_ROUTES and ("/portal/accounts", "POST") in PORTAL_ROUTES


# --- data: customers A and B ----------------------------------------------------------------


class World:
    def __init__(self, app, owner):
        self.app, self.owner = app, owner
        self.a = factories.customer(name="Alpha Trading", email="office@alpha.example.com", language="en",
                                    street="Alphastraat 1", city="Amsterdam")
        self.b = factories.customer(name="Bravo Supplies", email="office@bravo.example.com", language="en",
                                    street="Bravoweg 99", city="Breda")
        self.a_invoice = factories.invoice(self.a, amount="111.00")
        self.b_invoice = factories.invoice(self.b, amount="987.65")
        with app.app_context():
            self.a_contact = self._contact(self.a, "Alice Alphacontact", "alice@alpha.example.com")
            self.b_contact = self._contact(self.b, "Boris Bravocontact", "boris@bravo.example.com")
            db.session.commit()
        self.solo = active_login(app, self.a, "solo@example.com")  # access ids
        self.both_a = active_login(app, self.a, "both@example.com")
        self.both_b = active_login(app, self.b, "both@example.com")
        self.bravo = active_login(app, self.b, "bravo@example.com")

    @staticmethod
    def _contact(customer, name, email) -> int:
        contact = ContactPerson(customer_id=customer.id, name=name, email=email)
        db.session.add(contact)
        db.session.flush()
        return contact.id

    def b_traces(self) -> list[str]:
        return ["Bravo Supplies", self.b.number, "office@bravo.example.com", "Bravoweg", "Breda",
                self.b_invoice.number, "Boris Bravocontact", "boris@bravo.example.com", "bravo@example.com"]

    def b_state(self):
        with self.app.app_context():
            contacts = sorted((c.id, c.name, c.email, c.invoice_emails, c.account_emails) for c in db.session.scalars(
                db.select(ContactPerson).where(ContactPerson.customer_id == self.b.id)))
            accesses = sorted((a.id, a.notify, a.notify_invoice, a.notify_account, a.revoked_at) for a in db.session.scalars(
                db.select(PortalAccess).where(PortalAccess.customer_id == self.b.id)))
            return contacts, accesses

    def staff_change(self, customer, change) -> None:
        with self.app.app_context():
            actor = db.session.get(StaffUser, self.owner.id)
            record = db.session.get(type(customer), customer.id)
            change(actor, record)
            db.session.commit()


@pytest.fixture
def world(app, owner):
    return World(app, owner)


def open_account(client, customer_id):
    return post_form(client, "/portal/accounts", {"customer_id": str(customer_id)})


def assert_no_trace(world: World, text: str, where: str) -> None:
    text = re.sub(r"hx-headers='[^']*'", "", text)
    text = re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", text)
    for trace in world.b_traces():
        assert trace not in text, f"{trace!r} of customer B shown on {where}"


def open_customer_id(client):
    with client.session_transaction() as session:
        return (session.get("portal") or {}).get("c")


# --- the switcher ------------------------------------------------------------------------------


def test_a_login_with_two_customers_chooses_and_switches(app, world):
    client = app.test_client()
    response = portal_login(client, "both@example.com")
    assert response.headers["Location"] == "/portal/accounts"
    assert client.get("/portal/").headers["Location"] == "/portal/accounts"  # nothing open yet

    soup = page(client, "/portal/accounts")
    assert heading(soup) == "Choose an account"
    assert open_buttons(soup) == [f"Open Alpha Trading ({world.a.number})", f"Open Bravo Supplies ({world.b.number})"]
    assert account_bar(soup) is None

    response = open_account(client, world.a.id)
    assert response.status_code == 302 and response.headers["Location"] == "/portal/"
    home = page(client, "/portal/")
    assert heading(home) == "Alpha Trading"
    bar = account_bar(home)
    assert bar.get_text(" ", strip=True).startswith(f"Account: Alpha Trading ({world.a.number})")
    assert bar.find("a", string="Switch account")["href"] == "/portal/accounts"
    assert world.a_invoice.number in home.get_text() and world.b_invoice.number not in home.get_text()

    switcher = page(client, "/portal/accounts")
    current = [b.get_text(" ", strip=True) for b in switcher.find_all("button", attrs={"aria-current": "true"})]
    assert current == [f"Open Alpha Trading ({world.a.number})"]

    open_account(client, world.b.id)
    home = page(client, "/portal/")
    assert heading(home) == "Bravo Supplies"
    assert account_bar(home).get_text(" ", strip=True).startswith(f"Account: Bravo Supplies ({world.b.number})")
    assert world.b_invoice.number in home.get_text() and world.a_invoice.number not in home.get_text()
    assert access_row(app, world.both_b).last_login_at is not None


def test_a_login_with_one_customer_lands_on_its_home(app, world):
    client = app.test_client()
    assert portal_login(client, "solo@example.com").headers["Location"] == "/portal/"
    soup = page(client, "/portal/accounts")
    assert open_buttons(soup) == [f"Open Alpha Trading ({world.a.number})"]


@pytest.mark.parametrize("chosen", ["b", "missing", "word", "empty", "negative"])
def test_opening_a_customer_without_access_is_a_404(app, world, chosen):
    client = logged_in(app.test_client(), "solo@example.com")
    value = {"b": str(world.b.id), "missing": "999999", "word": "abc", "empty": "", "negative": "-1"}[chosen]
    response = post_form(client, "/portal/accounts", {"customer_id": value})
    assert response.status_code == 404
    assert_no_trace(world, response.get_data(as_text=True), "the 404")
    assert open_customer_id(client) == world.a.id  # still on A
    assert heading(page(client, "/portal/")) == "Alpha Trading"


# --- every route, tried against B ----------------------------------------------------------------


def _url(world: World, rule: str) -> str:
    def fill(match):
        converter, name = match.group(1), match.group(2)
        if name == "token":
            return "A" * 43
        if name.endswith("contact_id"):
            return str(world.b_contact)
        if name.endswith("customer_id"):
            return str(world.b.id)
        return str(world.b.id) if converter == "int" else "x"

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", fill, rule)


@pytest.mark.parametrize("attack", ["ids in the request", "B left open in the session"])
@pytest.mark.parametrize(("rule", "method"), PORTAL_ROUTES, ids=[f"{m} {r}" for r, m in PORTAL_ROUTES])
def test_no_portal_route_shows_customer_b_to_a_login_of_customer_a(app, world, rule, method, attack):
    client = logged_in(app.test_client(), "solo@example.com")
    if attack == "B left open in the session":
        with client.session_transaction() as session:
            session["portal"] = {**session["portal"], "c": world.b.id}
    before = world.b_state()
    url = _url(world, rule) + f"?customer_id={world.b.id}&customer={world.b.id}"

    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, data={
            "csrf_token": session_token(client), "customer_id": str(world.b.id), "customer": str(world.b.id),
            "contact_id": str(world.b_contact), "email": "someone@example.com",
        })
    assert response.status_code in (200, 302, 303, 404, 410, 422), (response.status_code, response.data[:300])
    assert_no_trace(world, response.get_data(as_text=True), f"{method} {url}")
    if response.status_code in (302, 303):
        location = response.headers["Location"]
        landing = client.get(location)
        assert landing.status_code in (200, 302, 404), (location, landing.status_code)
        assert_no_trace(world, landing.get_data(as_text=True), f"{location} after {method} {url}")

    # pages that never read the open account may leave it as it was; the next one that does
    # (the portal home) shows A or the switcher, and the session no longer names B
    after = client.get("/portal/")
    assert_no_trace(world, after.get_data(as_text=True), f"/portal/ after {method} {url}")
    assert open_customer_id(client) in (world.a.id, None)
    assert world.b_state() == before  # nothing of B changed either


def test_a_stale_session_naming_b_goes_to_the_switcher(app, world):
    client = logged_in(app.test_client(), "solo@example.com")
    with client.session_transaction() as session:
        session["portal"] = {**session["portal"], "c": world.b.id}
    assert client.get("/portal/").headers["Location"] == "/portal/accounts"
    assert open_buttons(page(client, "/portal/accounts")) == [f"Open Alpha Trading ({world.a.number})"]
    assert open_customer_id(client) is None


# --- access taken away -------------------------------------------------------------------------


def _revoke_a(world):
    def change(actor, customer):
        access = db.session.get(PortalAccess, world.solo)
        portal_access.set_login(actor, customer, access, False)
        portal_access.set_login(actor, customer, db.session.get(PortalAccess, world.both_a), False)

    world.staff_change(world.a, change)


def _portal_off(world):
    world.staff_change(world.a, lambda actor, customer: portal_access.set_customer_portal_access(actor, customer, False))


def _archive(world):
    world.staff_change(world.a, lambda actor, customer: customer_service.set_archived(actor, customer, True))


LOCKOUTS = {"login revoked": _revoke_a, "portal access off": _portal_off, "customer archived": _archive}


@pytest.mark.parametrize("lockout", LOCKOUTS)
def test_taking_access_away_hides_the_account_on_the_next_request(app, world, lockout):
    solo = logged_in(app.test_client(), "solo@example.com")
    both = logged_in(app.test_client(), "both@example.com")
    open_account(both, world.a.id)
    assert heading(page(solo, "/portal/")) == heading(page(both, "/portal/")) == "Alpha Trading"

    LOCKOUTS[lockout](world)

    for client in (solo, both):
        response = client.get("/portal/")
        assert response.status_code == 302 and response.headers["Location"] == "/portal/accounts"
        for url in ("/portal/preferences", "/portal/contacts"):
            assert client.get(url).status_code == 302
        assert open_customer_id(client) is None
    assert open_buttons(page(solo, "/portal/accounts")) == []
    assert "There is no account you can open with this login at the moment." in page(solo, "/portal/accounts").get_text()
    assert open_buttons(page(both, "/portal/accounts")) == [f"Open Bravo Supplies ({world.b.number})"]
    assert open_account(both, world.a.id).status_code == 404
    assert open_account(both, world.b.id).status_code == 302


@pytest.mark.parametrize("lockout", LOCKOUTS)
def test_a_login_whose_only_account_is_locked_cannot_log_in(app, world, lockout):
    LOCKOUTS[lockout](world)

    client = app.test_client()
    response = portal_login(client, "solo@example.com")
    assert response.status_code == 403
    assert form_errors(soup_of(response)) == ["Your login has no account you can open at the moment."]
    assert client.get("/portal/").headers["Location"].startswith("/portal/login")
    # the login of both customers still gets in, straight to B (the only one left)
    other = app.test_client()
    assert portal_login(other, "both@example.com").headers["Location"] == "/portal/"
    assert heading(page(other, "/portal/")) == "Bravo Supplies"


def test_turning_the_login_on_again_restores_access(app, world):
    _revoke_a(world)
    world.staff_change(world.a, lambda actor, customer: portal_access.set_login(
        actor, customer, db.session.get(PortalAccess, world.solo), True))
    client = app.test_client()
    assert portal_login(client, "solo@example.com").headers["Location"] == "/portal/"
    assert heading(page(client, "/portal/")) == "Alpha Trading"


# --- CSRF on every POST --------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "method"), POST_ROUTES, ids=[r for r, _ in POST_ROUTES])
@pytest.mark.parametrize("token", ["none", "forged", "another session's"])
def test_every_portal_post_needs_the_csrf_token(app, world, rule, method, token):
    client = logged_in(app.test_client(), "solo@example.com")
    url = _url(world, rule).replace(str(world.b_contact), str(world.a_contact))
    data = {"customer_id": str(world.a.id), "email": "solo@example.com", "password": "plum tractor velvet 42"}
    if token == "forged":
        data["csrf_token"] = "IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAi.aaaa.bbbb"
    elif token == "another session's":
        data["csrf_token"] = session_token(app.test_client())
    with client.session_transaction() as session:
        portal_before = dict(session["portal"])

    response = client.post(url, data=data)
    assert response.status_code == 400, (rule, response.status_code)
    assert "Your form expired or was sent from elsewhere" in soup_of(response).get_text()
    with client.session_transaction() as session:
        assert session.get("portal") == portal_before  # still logged in, nothing switched
    assert client.get("/portal/").status_code == 200


def test_preferences_change_only_with_the_token(app, world):
    client = logged_in(app.test_client(), "solo@example.com")
    assert client.post("/portal/preferences", data={}).status_code == 400
    assert access_row(app, world.solo).notify is True
    response = post_form(client, "/portal/preferences", {"notify": "y", "notify_account": "y"})
    assert response.status_code == 302
    row = access_row(app, world.solo)
    assert (row.notify, row.notify_invoice, row.notify_account) == (True, False, True)
    # the same login's access to another customer is its own
    assert access_row(app, world.both_a).notify_invoice is True
