"""The customer's pages in a real browser, from the portal login and from the dossier link, at
1280 px and on a 390 px wide phone: nothing scrolls sideways (the page is never wider than the
window), the Pay buttons are on screen, tap targets are at least 44 px tall, and every page
passes axe-core's WCAG 2.2 A and AA rules with 0 violations.
"""

from __future__ import annotations

import re

import pytest

from models.contacts import ContactPerson
from models.db import db
from models.documents import DocumentStatus
from models.services import dossier
from tests import factories
from tests.browser.test_confirmations import PHONE, axe_violations, expect
from tests.portal.conftest import PORTAL_PASSWORD, active_login

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
SIZES = {"1280": DESKTOP, "390": PHONE}


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def customer(app, owner):
    """A customer with long names and numbers (what breaks a narrow page), open invoices in
    every state, a paid one, a quote, an order confirmation and a credit note."""
    customer = factories.customer(name="Dorothea Wilhelmina van Oosterhout-Debtor", company_name=None,
                                  language="en", email="dorothea.wilhelmina.van.oosterhout@example.com",
                                  street="Lange Nieuwstraat 1234", postal_code="1234 AB", city="Amsterdam")
    invoice = factories.invoice(customer, amount="1234567.89")
    factories.invoice(customer, amount="250.00", due_in_days=-12)
    factories.invoice(customer, amount="200.00", status=DocumentStatus.partially_paid, amount_paid="42.00")
    factories.invoice(customer, amount="50.00", status=DocumentStatus.paid, amount_paid="60.50")
    factories.document(customer, "quote", amount="9999.99")
    factories.document(customer, "order_confirmation", amount="120.00")
    factories.credit_note(invoice, amount="15.00")
    with app.app_context():
        db.session.add(ContactPerson(customer_id=customer.id, name="Bartholomew Longname-Contactperson",
                                     email="bartholomew.longname@example-company.com", account_emails=True))
        db.session.commit()
    return customer


def open_way(app, page, customer, way: str) -> str:
    """Log in through the form, or take the dossier link: the prefix of the customer's pages."""
    if way == "link":
        with app.app_context():
            token = dossier.current_token(customer.id)
            db.session.commit()
        return f"/d/{token}"
    active_login(app, customer, "dorothea@example.com")
    page.goto("/portal/login")
    page.get_by_label("E-mail address").fill("dorothea@example.com")
    page.get_by_label("Password").fill(PORTAL_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/portal/$"))
    return "/portal"


def assert_fits(page, width: int) -> None:
    """The page is never wider than the window: nothing to scroll sideways (measured once its
    stylesheets are in: a page after a form post is in the DOM before they load)."""
    page.wait_for_load_state("load")
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1] == width, (page.url, sizes)


def assert_on_screen(page, locator, width: int) -> None:
    expect(locator).to_be_visible()
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (page.url, box)
    assert box["height"] >= 44, (page.url, locator, box)


def assert_tap_targets(page) -> None:
    """Buttons and the controls that act like them are at least 44 px tall (WCAG 2.5.5 AAA, asked for here)."""
    small = page.evaluate("""() => [...document.querySelectorAll(
        'main button, main .button, main input[type=submit], main input[type=search], main label.pick, header nav a, header button')]
        .filter(e => e.offsetParent !== null)
        .map(e => [e.textContent.trim() || e.outerHTML.slice(0, 60), e.getBoundingClientRect().height])
        .filter(([, h]) => h < 44)""")
    assert small == [], (page.url, small)


def check(page, path: str, width: int) -> None:
    page.goto(path)
    expect(page.locator("h1")).to_be_visible()
    assert_fits(page, width)
    assert_tap_targets(page)
    violations = axe_violations(page)
    assert violations == [], (path, violations)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("way", ["login", "link"])
def test_every_customer_page_fits_and_passes_axe(app, page, page_problems, customer, way, size):
    viewport = SIZES[size]
    page.set_viewport_size(viewport)
    prefix = open_way(app, page, customer, way)
    overview = prefix + ("/" if way == "login" else "")
    check(page, overview, viewport["width"])

    # The Pay buttons: on screen and big enough, the first row's and "Pay all".
    table = page.locator("#open-invoices")
    assert_on_screen(page, table.get_by_role("button", name=re.compile(r"^Pay ")).first, viewport["width"])
    assert_on_screen(page, page.get_by_role("button", name=re.compile(r"^Pay all open invoices")), viewport["width"])
    assert_on_screen(page, page.get_by_role("button", name="Pay the ticked invoices"), viewport["width"])

    check(page, prefix + "/documents", viewport["width"])
    check(page, prefix + "/documents?kind=quote", viewport["width"])
    check(page, prefix + "/documents?q=nothing-like-this", viewport["width"])
    # Each kind's page, the invoice's with its Pay button on screen.
    page.goto(prefix + "/documents")
    links = page.locator("#documents tbody a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert len(hrefs) == 7
    for href in hrefs:
        check(page, href, viewport["width"])
        pay = page.get_by_role("button", name=re.compile(r"^Pay .* now$"))
        if pay.count():
            assert_on_screen(page, pay, viewport["width"])
    check(page, hrefs[0] + "?print=1", viewport["width"])
    check(page, prefix + "/statement", viewport["width"])
    check(page, prefix + "/instalments", viewport["width"])

    # A form answered with its messages (a 422) passes too: the quote without a name.
    page.goto(prefix + "/documents?kind=quote")
    page.locator("#documents tbody a").first.click()
    page.get_by_role("button", name="Accept the quote").click()
    expect(page.get_by_text("Enter your name.")).to_be_visible()
    assert_fits(page, viewport["width"])
    assert axe_violations(page) == []
    # The statement refuses a bad date at its field.
    page.goto(prefix + "/statement?date_from=someday")
    expect(page.get_by_text("Not a valid date value.")).to_be_visible()
    assert axe_violations(page) == []

    # Ticking two invoices and paying them goes to the (test) checkout, which fits too.
    page.goto(overview)
    boxes = page.locator("#open-invoices").get_by_role("checkbox")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Pay the ticked invoices").click()
    expect(page.get_by_role("heading", name="Test payment")).to_be_visible()
    assert_fits(page, viewport["width"])
    assert_tap_targets(page)
    assert axe_violations(page) == []
    page.get_by_role("button", name="Success: pay").click()
    expect(page.locator(".flashes")).to_contain_text("Payment received. Thank you!")
    assert_fits(page, viewport["width"])
    assert axe_violations(page) == []

    if way == "login":  # what only a login has, in the same layout
        for path in ("/portal/contacts", "/portal/preferences", "/portal/accounts"):
            check(page, path, viewport["width"])
    forgive_refusals(page_problems)
    page_problems.assert_none()


def forgive_refusals(page_problems) -> None:
    """Chromium logs the 422 answers of the refused forms above as failed loads: on purpose."""
    page_problems.console_errors[:] = [e for e in page_problems.console_errors
                                       if not re.search(r"status of 422", e)]


def test_the_login_page_fits_a_phone(app, page, page_problems):
    page.set_viewport_size(PHONE)
    page.goto("/portal/login")
    assert_fits(page, PHONE["width"])
    assert axe_violations(page) == []
    page_problems.assert_none()


@pytest.mark.parametrize("size", SIZES)
def test_a_contact_persons_preferences_page_fits_and_passes_axe(app, page, page_problems, customer, size):
    """The page a CC'd contact person reaches from their own e-mail: no login, a signed link."""
    from models.outbox import MailCategory
    from models.services import contact_preferences

    viewport = SIZES[size]
    page.set_viewport_size(viewport)
    with app.app_context():
        contact = db.session.scalars(db.select(ContactPerson).filter_by(customer_id=customer.id)).one()
        preferences = contact_preferences.preferences_token(contact.id, contact.email)
        unsubscribe = contact_preferences.unsubscribe_token(contact.id, contact.email, MailCategory.account)

    check(page, f"/portal/contact/{preferences}", viewport["width"])
    page.get_by_label(re.compile(r"^Invoice e-mails")).check()
    page.get_by_role("button", name="Save my choice").click()
    expect(page.get_by_text("Your choice is saved.")).to_be_visible()
    assert_fits(page, viewport["width"])
    assert_tap_targets(page)
    assert axe_violations(page) == []
    with app.app_context():
        assert db.session.get(ContactPerson, contact.id).invoice_emails is True

    check(page, f"/portal/unsubscribe/{unsubscribe}", viewport["width"])
    page_problems.assert_none()


def test_an_overdue_due_date_on_a_german_phone_breaks_no_word(app, page, page_problems):
    """On a phone the card's long German label ("Fälligkeitsdatum") leaves the date and its
    "überfällig" badge little room: they may go under each other, but neither is split inside
    the word (seen: "26.10.202|6", "überfälli|g")."""
    kunde = factories.customer(name="Becker Maschinenbau GmbH", language="de", email="becker@example.de")
    factories.invoice(kunde, amount="7650.50", due_in_days=-40)
    with app.app_context():
        token = dossier.current_token(kunde.id)
        db.session.commit()
    page.set_viewport_size(PHONE)
    page.goto(f"/d/{token}")
    badge = page.get_by_text("überfällig", exact=True)
    expect(badge).to_be_visible()
    lines = page.evaluate("""(badge) => {
        const cell = badge.closest('td');
        const range = document.createRange();  // a text node's lines: its client rects' rows
        const date = [...cell.querySelectorAll('*'), cell].flatMap(e => [...e.childNodes])
            .find(n => n.nodeType === Node.TEXT_NODE && /\\d{2}\\.\\d{2}\\.\\d{4}/.test(n.textContent));
        const rows = node => {
            range.selectNodeContents(node);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        };
        return [rows(date), rows(badge.firstChild)];
    }""", badge.element_handle())
    assert lines == [1, 1], lines
    assert_fits(page, PHONE["width"])
    page_problems.assert_none()
