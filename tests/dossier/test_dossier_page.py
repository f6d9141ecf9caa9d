"""The online dossier without a login: the optional check, the invoice view, "viewed",
and the e-mail address a debtor leaves when none is known (staff adopt or dismiss it)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from tests import factories
from tests.conftest import field_error, soup_of
from tests.portal.test_dossier_link import dossier_url, invoice_rows, path_of

ENGLISH = {"Accept-Language": "en"}


def set_settings(app, **values) -> None:
    with app.app_context():
        from models.services.settings import get_settings

        current = get_settings(for_update=True)
        for name, value in values.items():
            setattr(current, name, value)
        db.session.commit()


def page_token(soup) -> str:
    """The session's CSRF token, as the page's forms carry it (their hidden csrf_token input):
    a dossier page has no token in <body hx-headers>, so a page without a form sets no cookie."""
    field = soup.find("input", attrs={"name": "csrf_token"})
    assert field is not None, "the page has no form with a csrf_token"
    return field["value"]


def form_token(soup, action_part: str) -> str:
    form = next(f for f in soup.find_all("form") if action_part in f.get("action", ""))
    return form.find("input", attrs={"name": "csrf_token"})["value"]


@pytest.fixture
def debtor(app, owner):
    customer = factories.customer(name="Dora Debtor", language="en", email=None, postal_code="1234 AB")
    invoice = factories.invoice(customer, amount="100.00")
    return customer, invoice


@pytest.fixture
def link(owner_client, debtor):
    return path_of(dossier_url(owner_client, debtor[0]))


# --- the check before documents are shown ----------------------------------------------------


def test_postal_code_check_guards_the_documents(app, client, debtor, link):
    customer, invoice = debtor
    set_settings(app, dossier_check="postal_code")
    soup = soup_of(client.get(link, headers=ENGLISH))
    assert soup.find("h2", string="Confirm it is you")
    assert invoice.number not in soup.get_text()
    # The invoice's own page sends the debtor to the check first.
    response = client.get(f"{link}/invoices/{invoice.id}", headers=ENGLISH)
    assert response.status_code == 302 and response.headers["Location"].endswith(link)

    wrong = client.post(f"{link}/check", data={"answer": "9999 ZZ", "csrf_token": form_token(soup, "/check")},
                        headers=ENGLISH)
    assert wrong.status_code == 422
    assert field_error(soup_of(wrong), "Postal code") == "This does not match our records. Check the letter or invoice."
    assert invoice.number not in wrong.get_data(as_text=True)

    # Spaces and case do not matter.
    right = client.post(f"{link}/check", data={"answer": " 1234ab ", "csrf_token": form_token(soup, "/check")},
                        headers=ENGLISH)
    assert right.status_code == 302
    rows = invoice_rows(soup_of(client.get(link, headers=ENGLISH)))
    assert [r["Invoice"] for r in rows] == [invoice.number]


def test_customer_number_check(app, client, debtor, link):
    customer, invoice = debtor
    set_settings(app, dossier_check="customer_number")
    soup = soup_of(client.get(link, headers=ENGLISH))
    assert soup.find("label", string="Customer number")
    client.post(f"{link}/check", data={"answer": customer.number.lower(), "csrf_token": form_token(soup, "/check")})
    assert invoice.number in client.get(link, headers=ENGLISH).get_data(as_text=True)


def test_postal_code_check_is_skipped_when_no_postal_code_is_known(app, client, owner_client):
    customer = factories.customer(language="en", postal_code=None)
    invoice = factories.invoice(customer)
    set_settings(app, dossier_check="postal_code")
    link = path_of(dossier_url(owner_client, customer))
    assert invoice.number in client.get(link, headers=ENGLISH).get_data(as_text=True)


def test_a_passed_check_holds_for_that_link_only(app, client, owner_client, debtor, link):
    set_settings(app, dossier_check="customer_number")
    other = factories.customer(language="en")
    soup = soup_of(client.get(link, headers=ENGLISH))
    client.post(f"{link}/check", data={"answer": debtor[0].number, "csrf_token": form_token(soup, "/check")})
    other_link = path_of(dossier_url(owner_client, other))
    assert soup_of(client.get(other_link, headers=ENGLISH)).find("h2", string="Confirm it is you")


# --- the invoice view, "viewed" --------------------------------------------------------------


def test_invoice_view_print_view_and_viewed_for_staff(client, owner_client, debtor, link):
    customer, invoice = debtor
    assert owner_client.soup(f"/admin/invoices/{invoice.id}").find(string="Not viewed by the customer yet.")
    assert owner_client.soup(f"/admin/customers/{customer.id}/info").find(string="Not opened by the customer yet.")

    client.get(link, headers=ENGLISH)
    page = client.get(f"{link}/invoices/{invoice.id}", headers=ENGLISH)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    soup = soup_of(page)
    assert soup.h1.get_text(strip=True) == f"Invoice {invoice.number}"
    assert soup.find("a", string="Print view")
    printed = soup_of(client.get(f"{link}/invoices/{invoice.id}?print=1", headers=ENGLISH))
    assert "print-view" in printed.body.get("class", [])

    detail = owner_client.soup(f"/admin/invoices/{invoice.id}").get_text(" ")
    assert "Viewed by the customer:" in detail
    info = owner_client.soup(f"/admin/customers/{customer.id}/info").get_text(" ")
    assert "Last opened by the customer:" in info


def test_a_link_never_reaches_another_customers_invoice(client, debtor, link):
    stranger = factories.customer(language="en")
    theirs = factories.invoice(stranger, amount="999.00")
    unreleased = factories.invoice(debtor[0])
    with factories._app.app_context():
        from models.documents import Document

        db.session.get(Document, unreleased.id).released_to_portal = False
        db.session.commit()
    for invoice_id in (theirs.id, unreleased.id, 10**9):
        response = client.get(f"{link}/invoices/{invoice_id}", headers=ENGLISH)
        assert response.status_code == 404
        assert "999" not in response.get_data(as_text=True)


# --- an e-mail address left by the debtor ----------------------------------------------------


def test_debtor_provides_an_email_address_and_staff_adopt_it(app, client, owner_client, debtor, link):
    customer, invoice = debtor
    soup = soup_of(client.get(link, headers=ENGLISH))
    assert soup.find("h2", string="Receive your invoices by e-mail")

    bad = client.post(f"{link}/email", data={"email": "not an address", "csrf_token": form_token(soup, "/email")},
                      headers=ENGLISH)
    assert bad.status_code == 422
    assert field_error(soup_of(bad), "Your e-mail address") == "Enter a valid e-mail address."

    good = client.post(f"{link}/email", data={"email": "Dora@Example.com", "csrf_token": form_token(soup, "/email")})
    assert good.status_code == 302
    thanks = soup_of(client.get(link, headers=ENGLISH))
    assert not thanks.find("h2", string="Receive your invoices by e-mail")
    assert "we received dora@example.com" in thanks.find(role="status").get_text()

    # Staff: the Attention filter lists the invoice; the Info tab offers Adopt / Dismiss.
    listed = owner_client.soup("/admin/invoices?attention=provided_email").get_text(" ")
    assert invoice.number in listed
    info = owner_client.soup(f"/admin/customers/{customer.id}/info")
    assert "dora@example.com" in info.find(id="provided-email").get_text()
    token = form_token(info, "/provided-email")
    response = owner_client.post(f"/admin/customers/{customer.id}/provided-email",
                                 data={"action": "adopt", "csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        saved = db.session.get(Customer, customer.id)
        assert (saved.email, saved.provided_email) == ("dora@example.com", None)
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.customer_id == customer.id)
                                 .order_by(AuditEvent.id.desc()).limit(1)) == "customer.email_adopted"
    assert invoice.number not in owner_client.soup("/admin/invoices?attention=provided_email").get_text(" ")
    # With an address known, the dossier no longer asks, and a post is refused.
    soup = soup_of(client.get(link, headers=ENGLISH))
    assert not soup.find("h2", string="Receive your invoices by e-mail")
    again = client.post(f"{link}/email", data={"email": "x@example.com", "csrf_token": page_token(soup)},
                        headers=ENGLISH)
    assert again.status_code == 422
    assert field_error(soup_of(again), "Your e-mail address") == "We already have an e-mail address for you."


def test_staff_dismiss_a_provided_address(app, client, owner_client, debtor, link):
    customer, _ = debtor
    soup = soup_of(client.get(link, headers=ENGLISH))
    client.post(f"{link}/email", data={"email": "typo@example.com", "csrf_token": form_token(soup, "/email")})
    info = owner_client.soup(f"/admin/customers/{customer.id}/info")
    owner_client.post(f"/admin/customers/{customer.id}/provided-email",
                      data={"action": "dismiss", "csrf_token": form_token(info, "/provided-email")})
    with app.app_context():
        saved = db.session.get(Customer, customer.id)
        assert (saved.email, saved.provided_email) == (None, None)
    # The debtor is asked again.
    assert soup_of(client.get(link, headers=ENGLISH)).find("h2", string="Receive your invoices by e-mail")


# --- no cookie for a page without a form ------------------------------------------------------


def test_a_dossier_page_without_a_form_sets_no_cookie(app, client, owner_client, debtor, link):
    """The session (and its cookie) exists for the CSRF token; a dossier page carries that token
    only in its forms' hidden input, so an anonymous visit of a page with nothing to post leaves
    no cookie behind. A page with a form still does: its visitor is about to post."""
    set_settings(app, allow_payments=False)  # no Pay buttons
    customer = factories.customer(name="Nina Known", language="en", email="nina@example.test")
    invoice = factories.invoice(customer, amount="50.00")
    known = path_of(dossier_url(owner_client, customer))
    response = app.test_client().get(known, headers=ENGLISH)
    assert response.status_code == 200 and invoice.number in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers, response.headers.getlist("Set-Cookie")
    soup = soup_of(response)
    assert soup.find_all("form") == [] and not soup.body.has_attr("hx-headers")
    # The debtor without an e-mail address is asked for one: that form carries the token.
    asked = app.test_client().get(link, headers=ENGLISH)
    assert form_token(soup_of(asked), "/email") and "Set-Cookie" in asked.headers


# --- garbage never gets a 5xx ----------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=st.text(max_size=300), email=st.text(max_size=400))
def test_dossier_forms_never_answer_5xx(app, client, link, monkeypatch, answer, email):
    monkeypatch.setitem(app.config, "DOSSIER_LIMIT_PER_IP", "100000 per minute")
    set_settings(app, dossier_check="postal_code")
    soup = soup_of(client.get(link))
    token = page_token(soup)
    for path, data in ((f"{link}/check", {"answer": answer}), (f"{link}/email", {"email": email})):
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code < 500, (path, data, response.status_code)


def test_wrong_answers_to_one_links_check_are_limited_from_every_address(app, debtor, link):
    """Ten wrong postal codes from ten addresses lock the link's check for the hour; a
    right answer by then is refused too, and other links are not affected."""
    set_settings(app, dossier_check="postal_code")
    for n in range(10):
        guesser = app.test_client()
        guesser.environ_base["REMOTE_ADDR"] = f"192.0.2.{n + 1}"
        soup = soup_of(guesser.get(link, headers=ENGLISH))
        answer = guesser.post(f"{link}/check", data={"answer": f"{n:04d} ZZ", "csrf_token": form_token(soup, "/check")})
        assert answer.status_code == 422
    debtor_client = app.test_client()
    debtor_client.environ_base["REMOTE_ADDR"] = "198.51.100.1"
    soup = soup_of(debtor_client.get(link, headers=ENGLISH))
    right = debtor_client.post(f"{link}/check", data={"answer": "1234 AB", "csrf_token": form_token(soup, "/check")},
                               headers=ENGLISH)
    assert right.status_code == 429
    # Not the usual "wait a minute": waiting a minute would not help with a lock for the hour.
    assert soup_of(right).h1.get_text(strip=True) == ("Too many wrong answers were given for this link. "
                                                      "Please try again later, or contact us.")

    other = factories.customer(language="en", email=None, postal_code="5678 CD")
    with app.app_context():
        from models.services import dossier

        other_link = f"/d/{dossier.current_token(other.id)}"
        db.session.commit()
    soup = soup_of(debtor_client.get(other_link, headers=ENGLISH))
    assert debtor_client.post(f"{other_link}/check", data={"answer": "5678 CD",
                                                           "csrf_token": form_token(soup, "/check")}).status_code == 302
