"""Admin flows in a real browser: HTMX live search, inline invoice lines, keyboard login, CSP.

Each test also checks that no page it visited logged a console error, threw an uncaught
error or reported a Content-Security-Policy violation (the CSP forbids inline scripts and
styles; htmx is configured through its meta tag so it injects neither).
"""

from __future__ import annotations

import re

import pytest

from tests import factories
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

SEARCH_LABEL = "Search by name, customer number or e-mail"


def expect(*args, **kwargs):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


def mark_page(page) -> None:
    """Put a marker on `window`: it survives HTMX swaps but not a page load."""
    page.evaluate("window.__marker = 1")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__marker") == 1, "the page was reloaded instead of swapped by HTMX"


def line(page, index: int):
    return page.locator(f"#line-{index}")


def test_customer_live_search_swaps_results_and_pushes_url(page, page_problems, owner):
    factories.customer(name="Anna Jansen", number="C-1001", email="anna@example.test")
    factories.customer(name="Bert de Vries", number="C-1002", email="bert@example.test")
    factories.customer(name="Carla Jansen", number="C-1003", email="carla@example.test")
    log_in(page, owner)

    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#results .count")).to_have_text("3 customers")
    mark_page(page)

    with page.expect_request(lambda r: "q=jansen" in r.url) as searched:
        page.get_by_label(SEARCH_LABEL).press_sequentially("jansen")
    assert searched.value.headers.get("hx-request") == "true"

    expect(page).to_have_url(re.compile(r"/admin/customers\?q=jansen(&tag=)?$"))
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Anna Jansen")
    expect(rows.nth(1)).to_contain_text("Carla Jansen")
    expect(page.locator("#results")).not_to_contain_text("Bert de Vries")
    expect(page.locator("#results .count")).to_have_text("2 customers")
    # Only the results were swapped: one page, one form, the typed text still there.
    expect(page.locator("form[role=search]")).to_have_count(1)
    expect(page.get_by_label(SEARCH_LABEL)).to_have_value("jansen")
    assert_not_reloaded(page)

    # Searching by customer number works the same way.
    page.get_by_label(SEARCH_LABEL).fill("C-1002")
    expect(page).to_have_url(re.compile(r"/admin/customers\?q=C-1002(&tag=)?$"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Bert de Vries")
    assert_not_reloaded(page)

    # The pushed URL is a real page: loaded directly it shows the same search.
    page.reload()
    expect(page.get_by_label(SEARCH_LABEL)).to_have_value("C-1002")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Bert de Vries")

    page_problems.assert_none()


def test_invoice_lines_are_added_and_removed_inline(page, page_problems, owner):
    customer = factories.customer(name="Dirk Dekker")
    log_in(page, owner)
    page.goto(f"/admin/customers/{customer.id}/invoices/new")
    expect(page.get_by_role("heading", name="New invoice for Dirk Dekker")).to_be_visible()
    expect(page.locator(".line-row")).to_have_count(1)
    expect(page.get_by_role("button", name=re.compile(r"^Remove line"))).to_have_count(0)
    mark_page(page)

    first = line(page, 0)
    first.get_by_label("Description").fill("Design work")
    first.get_by_label("Quantity").fill("3")
    first.get_by_label("Unit price").fill("120.50")
    first.get_by_label("VAT rate (%)").fill("21")

    page.get_by_role("button", name="Add line").click()
    second = line(page, 1)
    expect(page.locator(".line-row")).to_have_count(2)
    expect(second.get_by_label("Description")).to_be_focused()
    assert_not_reloaded(page)
    # What was typed in the first line survived the round trip.
    expect(first.get_by_label("Description")).to_have_value("Design work")
    expect(first.get_by_label("Quantity")).to_have_value("3")
    expect(first.get_by_label("Unit price")).to_have_value("120.50")
    expect(first.get_by_label("VAT rate (%)")).to_have_value("21")
    # The new line starts with the defaults.
    expect(second.get_by_label("Description")).to_have_value("")
    expect(second.get_by_label("Quantity")).to_have_value("1")
    expect(second.get_by_label("VAT rate (%)")).to_have_value("21")

    second.get_by_label("Description").fill("Hosting")
    second.get_by_label("Quantity").fill("2")
    second.get_by_label("Unit price").fill("45.50")

    page.get_by_role("button", name="Remove line 1").click()
    expect(page.locator(".line-row")).to_have_count(1)
    assert_not_reloaded(page)
    remaining = line(page, 0)
    expect(remaining.get_by_label("Description")).to_have_value("Hosting")
    expect(remaining.get_by_label("Quantity")).to_have_value("2")
    expect(remaining.get_by_label("Unit price")).to_have_value("45.50")
    expect(page.get_by_role("button", name=re.compile(r"^Remove line"))).to_have_count(0)
    expect(page.get_by_role("button", name="Add line")).to_have_count(1)

    page.get_by_role("button", name="Create invoice").click()
    expect(page).to_have_url(re.compile(r"/admin/documents/\d+$"))
    expect(page.get_by_role("heading", name=re.compile(r"^Invoice "))).to_be_visible()
    expect(page.locator(".flashes")).to_contain_text("was created")
    body_rows = page.locator("table.list tbody tr")
    expect(body_rows).to_have_count(1)
    expect(body_rows.first).to_contain_text("Hosting")
    # 2 × 45.50 = 91.00 net, 21 % VAT = 19.11, total 110.11.
    total = page.locator("tfoot tr").filter(has=page.get_by_role("rowheader", name="Total", exact=True))
    expect(total.locator("td")).to_have_text("€110.11")

    page_problems.assert_none()


def test_login_form_works_with_the_keyboard_alone(page, page_problems, owner):
    page.goto("/admin/login")
    # The e-mail field has autofocus: a keyboard user can start typing right away.
    expect(page.get_by_label("E-mail address")).to_be_focused()
    page.keyboard.type(owner.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(factories.PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Log in")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/admin/customers$"))
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # The session cookie keeps its production flags (Chromium stores Secure cookies on 127.0.0.1).
    session = next(c for c in page.context.cookies() if c["name"] == "__Host-dossier_session")
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"

    # Enter in the password field submits as well (a fresh login after logging out).
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    page.get_by_label("E-mail address").fill(owner.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/customers$"))

    page_problems.assert_none()


def test_admin_pages_load_without_csp_violations(page, page_problems, owner):
    customer = factories.customer(name="Eva Everts")
    invoice = factories.invoice(customer, amount="50.00")
    log_in(page, owner)
    paths = [
        "/admin/customers",
        "/admin/customers?q=eva",
        "/admin/customers/new",
        f"/admin/customers/{customer.id}",
        f"/admin/customers/{customer.id}/info",
        f"/admin/customers/{customer.id}/notes",
        f"/admin/customers/{customer.id}/edit",
        f"/admin/customers/{customer.id}/invoices/new",
        "/admin/invoices",
        f"/admin/invoices/{invoice.id}",
        "/admin/account",
        "/admin/settings",
        "/admin/settings/fields",
        "/admin/staff",
        "/admin/staff/new",
        f"/admin/staff/{owner.id}",
    ]
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        # htmx loaded and configured itself from the meta tag (no eval, no injected styles).
        page.wait_for_function("window.htmx !== undefined && htmx.config.allowEval === false")
        assert not page_problems, (path, page_problems)

    # The stylesheet is applied from the static file, not from inline styles.
    assert page.evaluate("getComputedStyle(document.querySelector('.skip')).position") != "static"
    page_problems.assert_none()
