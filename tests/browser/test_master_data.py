"""The customer's own details in a real browser on a 390 px phone: from the login and from
the dossier link, the code pages and the contact persons behind the code, and the link that
confirms a new address. Every page fits the screen (no sideways scrolling) and passes
axe-core's WCAG 2.2 A and AA rules, in its plain state and with a message at a field; the
staff's "Changed by the customer" section passes axe too."""

from __future__ import annotations

import re

import pytest

from models.db import db
from models.services import one_time_codes
from tests import factories
from tests.browser.conftest import log_in
from tests.browser.test_confirmations import PHONE, axe_violations
from tests.mailers.conftest import add_contact
from tests.master_data.conftest import dossier_entry, dossier_path, mint_latest_code, outbox
from tests.portal.conftest import PORTAL_PASSWORD, active_login

pytestmark = pytest.mark.browser


def expect(*args, **kwargs):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def customer(app, owner):
    return factories.customer(
        assigned_to=[owner], name="Carla Customer", email="carla@example.com", language="en", phone="+31 20 555 0101",
        street="Kerkstraat 1", postal_code="1017 GA", city="Amsterdam", iban="NL02RABO0123456789",
        bank_holder="Carla Customer")


def forgive_422s(page_problems, expected: int) -> None:
    """Drop Chromium's own "Failed to load resource ... 422" lines: a form with messages is
    answered 422 on purpose."""
    pattern = re.compile(r"status of 422 .*/(details/[a-z/]+|verify\?next=\S*|verify)\)$")
    forgiven = [e for e in page_problems.console_errors if pattern.search(e)]
    assert len(forgiven) == expected, page_problems.console_errors
    page_problems.console_errors[:] = [e for e in page_problems.console_errors if e not in forgiven]


def fits_and_passes_axe(page, where: str = "") -> None:
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{where}: {width} px wide"
    assert axe_violations(page) == [], where


def test_the_details_from_the_dossier_link_on_a_phone(page, page_problems, app, customer):
    page.set_viewport_size(PHONE)
    link = dossier_path(app, customer)
    page.goto(f"{link}/details")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your details")
    fits_and_passes_axe(page, "details")

    # A wrong IBAN: the message at the field, the rest as typed.
    page.get_by_label("IBAN").fill("NL91ABNA0417164301")
    page.get_by_label("Account holder").fill("Carla C. Customer")
    page.get_by_role("button", name="Send me a code to save these bank details").click()
    expect(page.get_by_text("This is not a valid IBAN.")).to_be_visible()
    expect(page.get_by_label("Account holder")).to_have_value("Carla C. Customer")
    fits_and_passes_axe(page, "details with a field error")

    # The right IBAN: a code is sent; the code form appears; the code saves the details.
    page.get_by_label("IBAN").fill("NL91 ABNA 0417 1643 00")
    page.get_by_role("button", name="Send me a code to save these bank details").click()
    expect(page.get_by_role("heading", name="Enter the code")).to_be_visible()
    fits_and_passes_axe(page, "details waiting for the code")
    code = mint_latest_code(app)  # as the worker does when it sends the mail
    page.get_by_label("Code from the e-mail").fill(f"{(int(code) + 1) % 10**6:06d}")
    page.get_by_role("button", name="Save the new bank details").click()
    expect(page.get_by_text(re.compile(r"This code is not right"))).to_be_visible()
    fits_and_passes_axe(page, "a wrong code")
    page.get_by_label("Code from the e-mail").fill(code)
    page.get_by_role("button", name="Save the new bank details").click()
    expect(page.locator(".flashes")).to_contain_text("Your new bank details are saved.")
    expect(page.get_by_text("NL•• •••• 4300")).to_be_visible()
    forgive_422s(page_problems, 2)
    page_problems.assert_none()


def test_the_code_page_and_the_contact_persons_of_the_link_on_a_phone(page, page_problems, app, customer):
    add_contact(app, customer.id, "bookkeeping.department@example.com", name="Bernadette Bookkeeping-Department")
    page.set_viewport_size(PHONE)
    link = dossier_path(app, customer)
    page.goto(f"{link}/contacts")
    expect(page).to_have_url(re.compile(r"/verify\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    fits_and_passes_axe(page, "code page")
    page.get_by_role("button", name="Send me a code").click()
    expect(page.locator(".flashes")).to_contain_text("We sent a code to c•••@example.com.")
    page.get_by_label("Code from the e-mail").fill("12345")
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.get_by_text(re.compile("This code is not right"))).to_be_visible()
    fits_and_passes_axe(page, "code page with a wrong code")
    page.get_by_label("Code from the e-mail").fill(mint_latest_code(app))
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Contact persons of Carla Customer")
    fits_and_passes_axe(page, "contact persons")
    # The inline rows work here too (HTMX, with the page's CSRF token).
    page.get_by_role("link", name="Add contact").click()
    page.get_by_label("Name").fill("Bea Bookkeeper")
    page.get_by_label("E-mail address").fill("bea@example.com")
    page.get_by_role("button", name="Save contact").click()
    expect(page.get_by_role("cell", name="Bea Bookkeeper")).to_be_visible()
    forgive_422s(page_problems, 1)
    page_problems.assert_none()


def test_the_details_from_the_login_on_a_phone(page, page_problems, app, customer):
    active_login(app, customer, "carla.login@example.com")
    page.set_viewport_size(PHONE)
    page.goto("/portal/login")
    page.get_by_label("E-mail address").fill("carla.login@example.com")
    page.get_by_label("Password").fill(PORTAL_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/portal/details")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your details")
    fits_and_passes_axe(page, "portal details")
    page.get_by_label("VAT ID").fill("NL123456789B01")
    page.get_by_role("button", name="Save tax details").click()
    expect(page.get_by_text(re.compile("This is not a valid VAT id"))).to_be_visible()
    fits_and_passes_axe(page, "portal details with a field error")
    forgive_422s(page_problems, 1)
    page_problems.assert_none()


def test_the_new_address_confirmation_on_a_phone(page, page_problems, app, customer):
    page.set_viewport_size(PHONE)
    link = dossier_path(app, customer)
    page.goto(f"{link}/details")
    page.get_by_label("E-mail address").fill("carla.new@example.org")
    page.get_by_role("button", name="Save contact details").click()
    expect(page.get_by_text(re.compile("Waiting for confirmation: carla.new@example.org"))).to_be_visible()
    fits_and_passes_axe(page, "details waiting for the new address")
    row = outbox(app, one_time_codes.LINK_TEMPLATE)[-1]
    with app.app_context():
        token = one_time_codes.mint_link_token(row.context["code_id"], row.to_address)
        db.session.commit()
    page.goto(f"/portal/confirm-email/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your new e-mail address")
    fits_and_passes_axe(page, "confirm the new address")
    page.get_by_role("button", name="Yes, use carla.new@example.org").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("E-mail address confirmed")
    fits_and_passes_axe(page, "address confirmed")
    page_problems.assert_none()


def test_the_staff_see_and_confirm_the_customers_change(page, page_problems, app, customer, owner):
    entry = dossier_entry(app, customer)
    entry.post("/bank", {"bank-iban": "NL91ABNA0417164300", "bank-bank_holder": "Carla C. Customer"})
    entry.post("/bank/confirm", {"code-code": mint_latest_code(app)})
    page.set_viewport_size(PHONE)
    log_in(page, owner)
    page.goto(f"/admin/customers/{customer.id}/info")
    section = page.locator("#customer-changes")
    expect(section.get_by_role("heading", name="Changed by the customer")).to_be_visible()
    assert axe_violations(page, "#customer-changes") == []
    page.get_by_role("button", name="Confirm new bank details").click()
    expect(page.locator(".flashes")).to_contain_text("The customer's changes are confirmed.")
    expect(page.locator("#customer-changes")).to_have_count(0)
    page_problems.assert_none()
