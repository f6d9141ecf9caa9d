"""Contact persons edited inline in a real browser, on the admin's Info tab and in the portal.

The rows are <tr>s whose inputs belong (through the `form` attribute) to a form in the last
cell; HTMX swaps one row at a time and updates the counter and the "Add contact" button out
of band. A marker on `window` proves nothing reloaded the page; focus is checked after every
swap; the keyboard alone must be enough; and no page may log a console error or a CSP
violation.
"""

from __future__ import annotations

import re

import pytest

from models.contacts import ContactPerson, ContactRole
from models.db import db, now_utc
from models.portal_access import PortalAccess, PortalUser
from models.services.passwords import hash_password
from tests import factories
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

# Not example.test: email_validator refuses special-use domains.
PORTAL_EMAIL = "anna@example.com"
PORTAL_PASSWORD = "plum tractor velvet 42"


def expect(*args, **kwargs):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


def mark_page(page) -> None:
    """Put a marker on `window`: it survives HTMX swaps but not a page load."""
    page.evaluate("window.__marker = 1")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__marker") == 1, "the page was reloaded instead of swapped by HTMX"


def counter(page):
    return page.locator("#contact-count")


def forgive_validation_answers(page_problems, expected: int) -> None:
    """Drop Chromium's own "Failed to load resource ... 422" lines for the contact forms.

    A form with messages is answered 422 on purpose (base.html tells HTMX to swap it in);
    Chromium logs every 4xx fetch as a console error. Exactly `expected` of them must be
    there, each for a contact form's POST; any other console error still fails the test.
    """
    pattern = re.compile(r"status of 422 .*/contacts(/\d+)?\)$")
    forgiven = [e for e in page_problems.console_errors if pattern.search(e)]
    assert len(forgiven) == expected, page_problems.console_errors
    page_problems.console_errors[:] = [e for e in page_problems.console_errors if e not in forgiven]


def add_contacts(app, customer_id: int, n: int) -> None:
    with app.app_context():
        for i in range(1, n + 1):
            db.session.add(ContactPerson(
                customer_id=customer_id, name=f"Existing {i:02d}", email=f"existing{i}@example.com",
                role=ContactRole.general, invoice_emails=True, account_emails=False,
            ))
        db.session.commit()


def portal_login(app, customer_id: int) -> None:
    """An active portal login for the customer, made directly (the invitation has its own test)."""
    with app.app_context():
        now = now_utc()
        user = PortalUser(email=PORTAL_EMAIL, password_hash=hash_password(PORTAL_PASSWORD), password_changed_at=now)
        db.session.add(user)
        db.session.flush()
        db.session.add(PortalAccess(portal_user_id=user.id, customer_id=customer_id, invited_at=now, accepted_at=now))
        db.session.commit()


def log_in_portal(page) -> None:
    page.goto("/portal/login")
    page.get_by_label("E-mail address").fill(PORTAL_EMAIL)
    page.get_by_label("Password").fill(PORTAL_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/portal/login"))


def add_edit_remove(page) -> None:
    """The whole inline flow on a page showing an empty contacts section."""
    expect(counter(page)).to_have_text("0 of 10 contacts added")
    mark_page(page)

    # --- add ---------------------------------------------------------------------------------
    page.get_by_role("link", name="Add contact").click()
    new_row = page.locator("#contact-new")
    expect(new_row).to_be_visible()
    expect(new_row.get_by_label("Name")).to_be_focused()
    new_row.get_by_label("Name").fill("Bea Boekhouder")
    new_row.get_by_label("Phone (optional)").fill("+31 20 123 4567")
    new_row.get_by_label("E-mail address").fill("bea@example.com")
    new_row.get_by_label("Role").select_option("accountant")
    new_row.get_by_label("Account e-mails").check()
    new_row.get_by_role("button", name="Save contact").click()

    expect(new_row).to_have_count(0)
    rows = page.locator("#contacts-body tr")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("Bea Boekhouder")
    expect(row).to_contain_text("+31 20 123 4567")
    expect(row).to_contain_text("bea@example.com")
    expect(row).to_contain_text("Accountant")
    expect(row).to_contain_text("Invoice e-mails")
    expect(row).to_contain_text("Account e-mails")
    expect(row).to_be_focused()
    expect(counter(page)).to_have_text("1 of 10 contacts added")
    expect(page.get_by_role("link", name="Add contact")).to_be_visible()
    assert_not_reloaded(page)
    row_id = row.get_attribute("id")
    assert row_id and re.fullmatch(r"contact-\d+", row_id), row_id
    row = page.locator(f"#{row_id}")

    # --- edit in place -----------------------------------------------------------------------
    page.get_by_role("link", name="Edit Bea Boekhouder").click()
    expect(row.get_by_label("Name")).to_have_value("Bea Boekhouder")
    expect(row.get_by_label("Name")).to_be_focused()
    expect(row.get_by_label("Phone (optional)")).to_have_value("+31 20 123 4567")
    expect(row.get_by_label("E-mail address")).to_have_value("bea@example.com")
    expect(row.get_by_label("Role")).to_have_value("accountant")
    expect(row.get_by_label("Invoice e-mails")).to_be_checked()
    expect(row.get_by_label("Account e-mails")).to_be_checked()
    expect(page.locator("#contacts-body tr")).to_have_count(1)
    row.get_by_label("Name").fill("Bea de Boekhouder")
    row.get_by_label("Invoice e-mails").uncheck()
    row.get_by_role("button", name="Save contact").click()

    expect(row.get_by_label("Name")).to_have_count(0)
    expect(row).to_contain_text("Bea de Boekhouder")
    expect(row).not_to_contain_text("Invoice e-mails")
    expect(row).to_contain_text("Account e-mails")
    expect(row).to_be_focused()
    expect(page.get_by_role("link", name="Edit Bea de Boekhouder")).to_be_visible()
    expect(counter(page)).to_have_text("1 of 10 contacts added")
    assert_not_reloaded(page)

    # --- validation errors stay inline, with what was typed ----------------------------------
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.get_by_role("link", name="Add contact").click()
    new_row = page.locator("#contact-new")
    name, email = new_row.get_by_label("Name"), new_row.get_by_label("E-mail address")
    expect(name).to_be_focused()
    new_row.get_by_label("Phone (optional)").fill("020 765 4321")
    email.fill("not an address")
    # An empty name is stopped by the browser itself (the field is `required`), before any request.
    new_row.get_by_role("button", name="Save contact").click()
    expect(name).to_be_focused()
    assert name.evaluate("el => el.validity.valueMissing") is True

    # Blanks pass the browser but not the server: both messages come back inline.
    name.fill("   ")
    new_row.get_by_role("button", name="Save contact").click()
    name_error = new_row.locator("#new-name-error")
    expect(name_error).to_have_text("Enter a name.")
    expect(name_error).to_have_attribute("role", "alert")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_accessible_description(re.compile(r"Enter a name\."))
    email_error = new_row.locator("#new-email-error")
    expect(email_error).to_have_text("Enter a valid e-mail address.")
    expect(email_error).to_have_attribute("role", "alert")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile(r"Enter a valid e-mail address\."))
    expect(name).to_be_focused()
    expect(new_row.get_by_label("Phone (optional)")).to_have_value("020 765 4321")
    expect(email).to_have_value("not an address")
    expect(page.locator("#contacts-body tr.editing")).to_have_count(1)
    expect(counter(page)).to_have_text("1 of 10 contacts added")
    assert len(posts) == 1, posts  # the empty name never left the browser
    assert_not_reloaded(page)

    # Name fixed, address still wrong: only the e-mail field carries a message.
    name.fill("Carl Collega")
    new_row.get_by_role("button", name="Save contact").click()
    expect(name_error).to_have_count(0)
    expect(new_row.get_by_role("alert")).to_have_text("Enter a valid e-mail address.")
    expect(name).to_have_value("Carl Collega")
    expect(name).not_to_have_attribute("aria-invalid", "true")
    expect(email).to_have_value("not an address")
    expect(email).to_have_attribute("aria-invalid", "true")
    assert_not_reloaded(page)
    # htmx moves the focus to the first field once the swap settles; typing before that
    # would land in whichever field has the focus then (as it would for a person).
    expect(name).to_be_focused()

    new_row.get_by_label("E-mail address").fill("carl@example.com")
    new_row.get_by_role("button", name="Save contact").click()
    expect(new_row).to_have_count(0)
    expect(page.locator("#contacts-body tr")).to_have_count(2)
    expect(page.get_by_role("link", name="Edit Carl Collega")).to_be_visible()
    expect(counter(page)).to_have_text("2 of 10 contacts added")
    assert_not_reloaded(page)

    # --- remove, after the confirmation dialog -----------------------------------------------
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Remove Bea de Boekhouder").click()
    expect(row).to_have_count(0)
    expect(counter(page)).to_have_text("1 of 10 contacts added")
    assert dialogs == ["Remove Bea de Boekhouder? They will receive nothing more."]
    expect(page.locator("#contacts-body tr")).to_have_count(1)
    expect(page.locator("#contacts-body")).to_contain_text("Carl Collega")
    assert_not_reloaded(page)

    # What the swaps showed is what was stored: a reload shows the same.
    page.reload()
    expect(page.locator("#contacts-body tr")).to_have_count(1)
    expect(page.locator("#contacts-body")).to_contain_text("Carl Collega")
    expect(page.locator("#contacts-body")).not_to_contain_text("Bea")
    expect(counter(page)).to_have_text("1 of 10 contacts added")


def test_staff_add_edit_and_remove_contacts_inline(page, page_problems, owner):
    customer = factories.customer(name="Anna Jansen", email="anna@example.com", language="en")
    log_in(page, owner)
    page.goto(f"/admin/customers/{customer.id}/info")
    expect(page.get_by_role("heading", name="Contact persons")).to_be_visible()

    add_edit_remove(page)

    forgive_validation_answers(page_problems, 2)
    page_problems.assert_none()


def test_the_tenth_contact_disables_add_contact(app, page, page_problems, owner):
    customer = factories.customer(name="Anna Jansen", email="anna@example.com", language="en")
    add_contacts(app, customer.id, 9)
    log_in(page, owner)
    page.goto(f"/admin/customers/{customer.id}/info")
    expect(counter(page)).to_have_text("9 of 10 contacts added")
    expect(page.locator("#contacts-body tr")).to_have_count(9)
    mark_page(page)

    page.get_by_role("link", name="Add contact").click()
    new_row = page.locator("#contact-new")
    new_row.get_by_label("Name").fill("Tiende Persoon")
    new_row.get_by_label("E-mail address").fill("tiende@example.com")
    new_row.get_by_role("button", name="Save contact").click()

    expect(new_row).to_have_count(0)
    expect(page.locator("#contacts-body tr")).to_have_count(10)
    expect(counter(page)).to_have_text("10 of 10 contacts added")
    add = page.get_by_role("button", name="Add contact")
    expect(add).to_be_disabled()
    expect(page.get_by_role("link", name="Add contact")).to_have_count(0)
    hint = "The maximum of 10 contacts is reached. Remove one to add another."
    expect(page.locator("#contact-add-why")).to_have_text(hint)
    expect(add).to_have_accessible_description(hint)
    assert_not_reloaded(page)

    # Removing one enables the link again, without a reload.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove Tiende Persoon").click()
    expect(counter(page)).to_have_text("9 of 10 contacts added")
    expect(page.get_by_role("link", name="Add contact")).to_be_visible()
    expect(page.get_by_role("button", name="Add contact")).to_have_count(0)
    expect(page.locator("#contact-add-why")).to_have_count(0)
    assert_not_reloaded(page)

    page_problems.assert_none()


def test_portal_user_adds_edits_and_removes_contacts_inline(app, page, page_problems):
    customer = factories.customer(name="Anna Jansen", email="anna@example.com", language="en")
    portal_login(app, customer.id)
    log_in_portal(page)
    page.goto("/portal/contacts")
    expect(page).to_have_url(re.compile(r"/portal/contacts$"))
    expect(page.get_by_role("heading", name="Contact persons of Anna Jansen")).to_be_visible()

    add_edit_remove(page)

    forgive_validation_answers(page_problems, 2)
    page_problems.assert_none()


def test_a_contact_is_added_with_the_keyboard_alone(page, page_problems, owner):
    customer = factories.customer(name="Anna Jansen", email="anna@example.com", language="en")
    log_in(page, owner)
    page.goto(f"/admin/customers/{customer.id}/info")
    expect(counter(page)).to_have_text("0 of 10 contacts added")
    mark_page(page)

    add = page.get_by_role("link", name="Add contact")
    # Tab from the top of the page until "Add contact" has focus (a bounded walk, no clicks).
    page.locator("body").focus()
    for _ in range(80):
        page.keyboard.press("Tab")
        if add.evaluate("el => el === document.activeElement"):
            break
    expect(add).to_be_focused()
    page.keyboard.press("Enter")

    new_row = page.locator("#contact-new")
    expect(new_row.get_by_label("Name")).to_be_focused()
    page.keyboard.type("Kees Toetsenbord")
    page.keyboard.press("Tab")
    expect(new_row.get_by_label("Phone (optional)")).to_be_focused()
    page.keyboard.press("Tab")
    expect(new_row.get_by_label("E-mail address")).to_be_focused()
    page.keyboard.type("kees@example.com")
    page.keyboard.press("Enter")  # implicit submission of the row's form

    expect(new_row).to_have_count(0)
    row = page.locator("#contacts-body tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Kees Toetsenbord")
    expect(row).to_contain_text("kees@example.com")
    expect(row).to_be_focused()
    expect(counter(page)).to_have_text("1 of 10 contacts added")
    assert_not_reloaded(page)

    page_problems.assert_none()
