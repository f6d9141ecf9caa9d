"""Crafted numbers and characters never reach int() or the database as a 500.

`"²".isdigit()` is True but `int("²")` fails; `int()` of more than 4,300 digits raises;
an id beyond 2**31 - 1 overflows PostgreSQL's INTEGER (SQLite's above 2**63); PostgreSQL
refuses NUL in text. Every one of them is a 4xx with a message, or a page number read as
page 1 -- on SQLite and on PostgreSQL (TEST_DATABASE_URL).
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from models.db import db
from models.outbox import OutboundEmail
from tests import factories
from tests.api.conftest import make_key
from tests.conftest import field_error, input_value, soup_of
from tests.portal.conftest import PORTAL_PASSWORD, active_login, csrf_token, portal_login

SUPERSCRIPT_TWO = "²"            # str.isdigit() says yes, int() says no
ARABIC_THREE = "٣"               # a decimal digit int() reads as 3
FULLWIDTH_ONE = "１"
HUGE = "9" * 5000                # int() refuses more than 4,300 digits
BEYOND_BIGINT = "1" * 25         # beyond SQLite's and PostgreSQL's integers
BEYOND_INTEGER = str(2**31)      # beyond PostgreSQL's INTEGER columns
CRAFTED = [SUPERSCRIPT_TWO, ARABIC_THREE, FULLWIDTH_ONE, HUGE, BEYOND_BIGINT, BEYOND_INTEGER, "-1", "1.0", "0x1", ""]
CRAFTED_IDS = ["super-2", "arabic-3", "fullwidth-1", "5000-digits", "25-digits", "2^31", "negative", "decimal", "hex", "empty"]

NUL_REFUSED = "This contains a character that cannot be saved."


@pytest.fixture
def customer(app):
    return factories.customer(name="Anna Albers", email="anna@example.com", language="en")


# --- ids in the URL ---------------------------------------------------------------------------


def _int_rules(app):
    return [rule for rule in app.url_map.iter_rules()
            if any(type(c).__name__ == "IntegerConverter" for c in rule._converters.values())]


@pytest.mark.parametrize("value", [SUPERSCRIPT_TWO, ARABIC_THREE, HUGE, BEYOND_BIGINT, BEYOND_INTEGER],
                         ids=["super-2", "arabic-3", "5000-digits", "25-digits", "2^31"])
def test_a_crafted_id_in_any_url_is_not_found(app, owner_client, client, customer, value):
    """Every route with a numeric id, every method, that id crafted, each area with its own
    login (staff, portal, a dossier link): 404 (or 405), never 500."""
    active_login(app, customer, "anna@example.com")
    assert portal_login(client, "anna@example.com").status_code == 302
    portal_token = csrf_token(client, "/portal/")
    rules = _int_rules(app)
    assert len(rules) > 20
    api_client, api_headers = app.test_client(), {"Authorization": f"Bearer {make_key(app, owner_client.user)}"}
    for rule in rules:
        path = rule.rule
        for name in rule.arguments:
            filler = value if type(rule._converters[name]).__name__ == "IntegerConverter" else "x"
            path = re.sub(r"<(?:[^:>]+:)?%s>" % name, quote(filler), path)
        staff = path.startswith("/admin/")
        browser, form = (owner_client, {}) if staff else (client, {"csrf_token": portal_token})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if path.startswith("/api/"):  # machines: a valid key, a body the route accepts
                body = {"data": b"%PDF-1.4\n", "content_type": "application/pdf"} if method == "PUT" else {"json": {}}
                response = api_client.open(path, method=method, headers=api_headers, **body)
            else:
                response = browser.get(path) if method == "GET" else browser.post(path, data=form)
            assert response.status_code in (404, 405), (method, path[:80], response.status_code)


# --- ?page= ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", CRAFTED, ids=CRAFTED_IDS)
@pytest.mark.parametrize("listing", ["/admin/customers", "/admin/invoices"])
def test_a_crafted_page_number_shows_the_first_page(app, owner_client, customer, listing, value):
    factories.invoice(customer)
    response = owner_client.get(f"{listing}?page={quote(value)}")
    assert response.status_code == 200
    assert "Anna Albers" in soup_of(response).get_text(" ", strip=True)


# --- ids in forms ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", CRAFTED, ids=CRAFTED_IDS)
def test_a_crafted_account_choice_in_the_portal_is_not_found(app, client, customer, value):
    active_login(app, customer, "anna@example.com")
    other = factories.customer(name="Bert Bakker", email="bert@example.com")
    active_login(app, other, "anna@example.com")  # two accounts: the switcher is shown
    assert portal_login(client, "anna@example.com").status_code == 302
    token = csrf_token(client, "/portal/accounts")
    response = client.post("/portal/accounts", data={"csrf_token": token, "customer_id": value})
    assert response.status_code == 404
    assert client.post("/portal/accounts", data={"csrf_token": token, "customer_id": str(other.id)}).status_code == 302


@pytest.mark.parametrize("value", CRAFTED, ids=CRAFTED_IDS)
def test_a_crafted_portal_login_id_is_not_found(app, owner_client, customer, value):
    response = owner_client.post(f"/admin/customers/{customer.id}/portal-logins",
                                 data={"action": "resend", "access_id": value})
    assert response.status_code == 404


@pytest.mark.parametrize("value", [SUPERSCRIPT_TWO, HUGE, BEYOND_BIGINT], ids=["super-2", "5000-digits", "25-digits"])
def test_a_crafted_invoice_line_index_keeps_the_typed_lines(app, owner_client, customer, value):
    url = f"/admin/customers/{customer.id}/invoices/new"
    typed = {"issue_date": "2025-03-01", "due_date": "2025-03-15", "currency": "EUR",
             "lines-0-description": "Consulting", "lines-0-quantity": "2", "lines-0-unit_price": "50.00",
             "lines-0-vat_rate": "21",
             "lines-1-description": "Travel", "lines-1-quantity": "1", "lines-1-unit_price": "20.00",
             "lines-1-vat_rate": "21"}
    # a button naming a line that does not exist: nothing is removed
    response = owner_client.post(url, data={**typed, "action": f"remove_line:{value}"})
    assert response.status_code == 200
    soup = soup_of(response)
    assert [row.find("input")["value"] for row in soup.find_all("div", class_="line-row")] == ["Consulting", "Travel"]
    # a field of a line with a crafted number: ignored, the typed lines stay
    response = owner_client.post(url, data={**typed, f"lines-{value}-description": "Crafted", "action": "add_line"})
    assert response.status_code == 200
    assert "Crafted" not in response.get_data(as_text=True)


# --- NUL characters in the portal's login area -----------------------------------------------


def test_a_nul_in_the_portal_login_address_is_refused_at_the_field(app, client, customer):
    active_login(app, customer, "anna@example.com")
    token = csrf_token(client, "/portal/login")
    response = client.post("/portal/login", data={"csrf_token": token, "email": "anna@example.com\x00",
                                                  "password": PORTAL_PASSWORD})
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "E-mail address") == NUL_REFUSED
    assert client.get("/portal/").status_code == 302  # not logged in


@pytest.mark.parametrize("email", ["\x00", "anna@example.com\x00", "an\x00na@example.com"])
def test_a_nul_in_the_forgot_password_address_is_refused_at_the_field(app, client, customer, email):
    active_login(app, customer, "anna@example.com")
    token = csrf_token(client, "/portal/forgot")
    response = client.post("/portal/forgot", data={"csrf_token": token, "email": email})
    assert response.status_code == 422
    assert field_error(soup_of(response), "E-mail address") == NUL_REFUSED
    with app.app_context():
        resets = select(func.count()).select_from(OutboundEmail).where(OutboundEmail.template == "portal_password_reset")
        assert db.session.scalar(resets) == 0
