"""Confirmations of risky actions in a real browser, on a 390 px wide screen, with and without
JavaScript: the consequence is read before anything happens, Cancel changes nothing, and every
confirmation passes axe-core's WCAG 2.2 A and AA rules.

axe-core is vendored (tests/browser/vendor, MPL-2.0, see axe-LICENSE.txt) and run through
Playwright's evaluate, which the page's Content-Security-Policy does not apply to.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from models.customers import Customer
from models.db import db
from models.instalments import InstalmentPlan, PlanStatus
from models.services import portal_access
from tests import factories
from tests.browser.conftest import CHROMIUM_ARGS, log_in
from models import clock

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-4.10.3.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
PHONE = {"width": 390, "height": 844}


def expect(*args, **kwargs):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


def axe_violations(page, selector: str | None = None) -> list[dict]:
    """axe-core's WCAG 2.2 A/AA violations on the page (or inside `selector`)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    return page.evaluate(
        """async ([selector, tags]) => {
             const where = selector ? document.querySelector(selector) : document;
             const result = await axe.run(where, {runOnly: {type: "tag", values: tags}});
             return result.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))}));
           }""",
        [selector, WCAG_22_AA],
    )


def assert_fits(page) -> None:
    """Nothing of the confirmation is cut off or scrolls sideways at 390 px."""
    box = page.locator("dialog.confirm").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    for control in page.locator("dialog.confirm").get_by_role("button").all() + page.locator(
            "dialog.confirm").get_by_role("link").all():
        b = control.bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"], (control.inner_text(), b)
        assert b["height"] >= 24 and b["width"] >= 24  # WCAG 2.2 target size (minimum)


@pytest.fixture
def customer(app):
    customer = factories.customer(name="Anna Archer", email="anna@example.com", language="en")
    with app.app_context():
        portal_access.add_login(None, db.session.get(Customer, customer.id), "anna@example.com")
        db.session.add(InstalmentPlan(customer_id=customer.id, status=PlanStatus.pending, total=Decimal("300.00"),
                                      currency="EUR", count=3, start_date=clock.today()))
        db.session.commit()
    return customer


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


def confirm_page(page, button: str, heading: str) -> None:
    """Press `button`: a page of its own asks first, and passes axe."""
    page.get_by_role("button", name=button, exact=True).click()
    dialog = page.get_by_role("dialog", name=heading)
    expect(dialog).to_be_visible()
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    assert axe_violations(page) == []
    assert_fits(page)


@pytest.mark.parametrize("start,button,heading,yes,done", [
    ("info", "Archive customer", "Archive Anna Archer?", "Yes, archive the customer", "The customer was archived."),
    ("info", "Issue new dossier link", "Issue a new dossier link for Anna Archer?", "Yes, issue a new dossier link",
     "A new dossier link was issued; the old link no longer works."),
    ("overview", "Decline plan", "Decline the instalment plan of Anna Archer?", "Yes, decline the plan",
     "The instalment plan was declined; the customer is told by e-mail."),
    ("invoice", "Send reminder", None, "Yes, send the reminder now", "The e-mail is on its way."),
], ids=["archive", "dossier link", "decline plan", "early reminder"])
def test_each_confirmation_reads_well_on_a_phone(page, page_problems, owner, customer, start, button, heading, yes, done):
    invoice = factories.invoice(customer, due_in_days=10)
    heading = heading or f"Send a reminder for invoice {invoice.number} before it is due?"
    back = {"info": f"/admin/customers/{customer.id}/info", "overview": f"/admin/customers/{customer.id}",
            "invoice": f"/admin/documents/{invoice.id}"}[start]
    page.set_viewport_size(PHONE)
    log_in(page, owner)
    page.goto(back)
    confirm_page(page, button, heading)

    page.get_by_role("link", name="Cancel").click()  # back, nothing done
    expect(page).to_have_url(re.compile(re.escape(back) + r"(#.*)?$"))
    expect(page.get_by_role("button", name=button, exact=True)).to_be_visible()

    page.get_by_role("button", name=button, exact=True).click()
    page.get_by_role("button", name=yes).click()
    expect(page.locator(".flashes")).to_contain_text(done)
    page_problems.assert_none()


def test_portal_access_off_asks_inside_the_section_with_htmx(page, page_problems, owner, customer):
    page.set_viewport_size(PHONE)
    log_in(page, owner)
    page.goto(f"/admin/customers/{customer.id}/info")
    page.evaluate("window.__marker = 1")
    section = page.locator("#portal-logins")

    section.get_by_role("button", name="Turn portal access off").click()
    dialog = section.get_by_role("dialog", name="Turn portal access off for Anna Archer?")
    expect(dialog).to_be_visible()
    expect(dialog).to_be_focused()  # a screen reader reads the question and the consequence
    assert page.evaluate("window.__marker") == 1, "swapped in by HTMX, not a page load"
    assert axe_violations(page, "#portal-logins") == []
    assert_fits(page)

    dialog.get_by_role("link", name="Cancel").click()  # the section comes back, nothing changed
    expect(section.get_by_role("button", name="Turn portal access off")).to_be_visible()
    expect(page.locator("dialog")).to_have_count(0)

    section.get_by_role("button", name="Turn portal access off").click()
    section.get_by_role("button", name="Yes, turn portal access off").click()
    expect(section.get_by_role("button", name="Turn portal access on")).to_be_visible()
    assert page.evaluate("window.__marker") == 1
    page_problems.assert_none()


def test_a_login_off_without_javascript_is_a_page_of_its_own(browser, base_url, owner, customer):
    context = browser.new_context(base_url=base_url, locale="en-GB", java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        log_in(page, owner)
        page.goto(f"/admin/customers/{customer.id}/info")
        page.get_by_role("button", name="Login on — turn off").click()
        expect(page).to_have_url(re.compile(rf"/admin/customers/{customer.id}/portal-logins$"))
        dialog = page.get_by_role("dialog", name="Turn off the login anna@example.com?")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("anna@example.com can no longer open the portal of Anna Archer")
        assert_fits(page)
        html = page.content()
        page.get_by_role("button", name="Yes, turn the login off").click()
        expect(page).to_have_url(re.compile(rf"/admin/customers/{customer.id}/info#portal-logins-h$"))
        expect(page.get_by_role("button", name="Login off — turn on")).to_be_visible()
    finally:
        context.close()
    # The same page through axe (it needs script, so in a context that runs it).
    checker = browser.new_context(base_url=base_url, locale="en-GB", viewport=PHONE)
    try:
        page = checker.new_page()
        page.set_content(html.replace("<head>", f'<head><base href="{base_url}/">', 1))
        assert axe_violations(page) == []
    finally:
        checker.close()
