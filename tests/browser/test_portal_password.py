"""The portal's password page and its account bar in Chromium, at 1280 and 390 px: they fit,
pass axe-core (WCAG 2.2 A/AA) plain and with a message at a field, and the account bar is
hidden with its button, with JavaScript (HTMX, no reload) and without."""

from __future__ import annotations

import re

import pytest

from tests import factories
from tests.browser.test_confirmations import PHONE, axe_violations, expect
from tests.browser.test_customer_place import assert_fits, assert_tap_targets
from tests.portal.conftest import PORTAL_PASSWORD, active_login

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": PHONE}
EMAIL = "dorothea.wilhelmina@example.com"


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def customer(app):
    customer = factories.customer(name="Dorothea Wilhelmina van Oosterhout-Debtor", language="en",
                                  email="dorothea@example.com")
    active_login(app, customer, EMAIL)
    return customer


def log_in(page) -> None:
    page.goto("/portal/login")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PORTAL_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/portal/$"))


@pytest.mark.parametrize("size", SIZES)
def test_the_password_page_fits_and_passes_axe(page, page_problems, customer, size):
    page.set_viewport_size(SIZES[size])
    log_in(page)
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Password").click()
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()
    assert_fits(page, SIZES[size]["width"])
    assert_tap_targets(page)
    assert axe_violations(page) == []

    page.get_by_label("Current password", exact=True).fill("not my password at all")
    page.get_by_label("New password", exact=True).fill("copper lantern meadow 93")
    page.get_by_label("Repeat the new password").fill("copper lantern meadow 93")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("The current password is not correct.")).to_be_visible()
    assert_fits(page, SIZES[size]["width"])
    assert axe_violations(page) == []

    page.get_by_label("Current password", exact=True).fill(PORTAL_PASSWORD)
    page.get_by_label("New password", exact=True).fill("copper lantern meadow 93")
    page.get_by_label("Repeat the new password").fill("copper lantern meadow 93")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password was changed. Other sessions have been logged out.")).to_be_visible()
    page.goto("/portal/documents")
    expect(page.get_by_role("heading", level=1)).to_be_visible()  # still logged in
    assert "/portal/login" not in page.url
    page_problems.console_errors[:] = [e for e in page_problems.console_errors if "status of 422" not in e]
    page_problems.assert_none()


@pytest.mark.parametrize("size", SIZES)
def test_the_account_bar_is_styled_and_hidden_with_htmx(page, page_problems, customer, size):
    page.set_viewport_size(SIZES[size])
    log_in(page)
    bar = page.get_by_role("region", name="Open account")
    expect(bar).to_contain_text("Dorothea Wilhelmina van Oosterhout-Debtor")
    expect(page.locator("#account-bar")).to_have_css("display", "flex")  # portal.css applies (waits for it)
    hide = bar.get_by_role("button", name="Hide the account bar")
    box = hide.bounding_box()
    assert box["height"] >= 44 and box["x"] + box["width"] <= SIZES[size]["width"], box
    assert_fits(page, SIZES[size]["width"])
    assert axe_violations(page) == []

    page.evaluate("window.__notReloaded = true")
    hide.click()
    expect(bar).to_have_count(0)
    assert page.evaluate("window.__notReloaded") is True  # swapped by HTMX, no reload
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="Open account")).to_have_count(0)
    page_problems.assert_none()


def test_the_account_bar_is_hidden_without_javascript(browser, base_url, customer):
    context = browser.new_context(base_url=base_url, locale="en-GB", java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page)
        page.goto("/portal/documents")
        page.get_by_role("region", name="Open account").get_by_role("button", name="Hide the account bar").click()
        expect(page).to_have_url(re.compile(r"/portal/documents$"))
        expect(page.get_by_role("region", name="Open account")).to_have_count(0)
    finally:
        context.close()
