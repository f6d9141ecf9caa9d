"""The document form and page in a real browser: lines added and removed with HTMX keep
everything typed (the lines and the fields around them), and the document page of each
kind, with its forms and errors shown, passes axe-core's WCAG 2.2 A and AA rules on a
390 px wide screen."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from models import clock
from models.documents import DocumentStatus
from tests import factories
from tests.browser.conftest import log_in
from tests.browser.test_admin_flows import assert_not_reloaded, line, mark_page
from tests.browser.test_confirmations import PHONE, axe_violations, expect

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _redis_unreachable(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


def forgive_refusals(page_problems, path_pattern: str, expected: int) -> None:
    """Drop Chromium's own "Failed to load resource ... 422" lines for the refused forms: a
    form with messages is answered 422 on purpose."""
    pattern = re.compile(r"status of 422 .*" + path_pattern + r"\)$")
    forgiven = [e for e in page_problems.console_errors if pattern.search(e)]
    assert len(forgiven) == expected, page_problems.console_errors
    page_problems.console_errors[:] = [e for e in page_problems.console_errors if e not in forgiven]


@pytest.fixture
def today(app):
    with app.app_context():
        return clock.today()


def test_lines_added_and_removed_with_htmx_keep_what_was_typed(page, page_problems, owner, today):
    customer = factories.customer(name="Dirk Dekker", language="en")
    log_in(page, owner)
    page.goto(f"/admin/customers/{customer.id}/documents/new?kind=invoice")
    expect(page.get_by_role("heading", name="New invoice for Dirk Dekker")).to_be_visible()
    mark_page(page)

    due = (today + timedelta(days=30)).isoformat()
    page.get_by_label("Due date").fill(due)
    page.get_by_label("Notes").fill("Order 4711, delivered to the back door")
    first = line(page, 0)
    first.get_by_label("Description").fill("Design work")
    first.get_by_label("Quantity").fill("3")
    first.get_by_label("Unit price").fill("120.50")

    page.get_by_role("button", name="Add line").click()
    expect(page.locator(".line-row")).to_have_count(2)
    second = line(page, 1)
    expect(second.get_by_label("Description")).to_be_focused()
    assert_not_reloaded(page)
    expect(first.get_by_label("Description")).to_have_value("Design work")
    expect(first.get_by_label("Quantity")).to_have_value("3")
    expect(first.get_by_label("Unit price")).to_have_value("120.50")
    second.get_by_label("Description").fill("Hosting")
    second.get_by_label("Unit price").fill("45.50")
    second.get_by_label("VAT rate (%)").fill("9")

    page.get_by_role("button", name="Add line").click()
    expect(page.locator(".line-row")).to_have_count(3)
    page.get_by_role("button", name="Remove line 1").click()
    expect(page.locator(".line-row")).to_have_count(2)
    assert_not_reloaded(page)
    expect(line(page, 0).get_by_label("Description")).to_have_value("Hosting")
    expect(line(page, 0).get_by_label("Unit price")).to_have_value("45.50")
    expect(line(page, 0).get_by_label("VAT rate (%)")).to_have_value("9")
    page.get_by_role("button", name="Remove line 2").click()  # the empty one
    expect(page.locator(".line-row")).to_have_count(1)
    expect(page.get_by_role("button", name=re.compile(r"^Remove line"))).to_have_count(0)
    # only the lines were swapped: the fields around them keep what was typed
    expect(page.get_by_label("Due date")).to_have_value(due)
    expect(page.get_by_label("Notes")).to_have_value("Order 4711, delivered to the back door")
    assert_not_reloaded(page)

    page.get_by_role("button", name="Save as draft").click()
    # (url_for builds the older of the page's two addresses, /admin/invoices/<id>)
    expect(page).to_have_url(re.compile(r"/admin/(documents|invoices)/\d+$"))
    expect(page.get_by_role("heading", name="Invoice (draft)", level=1)).to_be_visible()
    expect(page.locator(".flashes")).to_contain_text("Invoice (draft) was created.")
    total = page.locator("tfoot tr").filter(has=page.get_by_role("rowheader", name="Total", exact=True))
    expect(total.locator("td")).to_have_text("€49.60")  # 45.50 + 9 % VAT
    page_problems.assert_none()


def test_invoice_page_on_a_phone_passes_axe(page, page_problems, owner, today):
    customer = factories.customer(name="Wagner Maschinenbau GmbH & Co. KG", email="buchhaltung@wagner.example",
                                  language="en")
    invoice = factories.invoice(customer, amount="1234.56", due_in_days=-40)
    factories.credit_note(invoice, amount="34.56")
    factories.invoice(customer, amount="10.00")
    log_in(page, owner)
    page.set_viewport_size(PHONE)
    page.goto(f"/admin/documents/{invoice.id}")
    expect(page.get_by_role("heading", name=f"Invoice {invoice.number}", level=1)).to_be_visible()

    # a payment recorded through the form, as staff do
    page.get_by_label("Amount").fill("500.00")
    page.get_by_label("Method").select_option(label="Bank transfer")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator(".flashes")).to_contain_text("The payment of €500.00 was recorded.")
    expect(page.get_by_role("button", name="Undo €500.00")).to_be_visible()
    page.get_by_role("button", name="Withdraw from the customer").click()
    expect(page.get_by_text("not released to the customer")).to_be_visible()
    assert axe_violations(page) == []

    # more than is outstanding: the message at Amount and the checkbox to confirm the credit
    page.get_by_label("Amount").fill("5000.00")
    page.get_by_role("button", name="Record payment").click()
    expect(page.get_by_text("This is more than the")).to_be_visible()
    expect(page.get_by_label("Yes, the part above what is outstanding becomes customer credit")).to_be_visible()
    expect(page.get_by_label("Amount")).to_have_attribute("aria-invalid", "true")
    assert axe_violations(page) == []
    forgive_refusals(page_problems, r"/documents/\d+/payments", 1)
    page_problems.assert_none()


@pytest.mark.parametrize("kind", ["quote", "accepted quote", "draft", "reminder", "delivery_note"])
def test_other_document_pages_on_a_phone_pass_axe(page, page_problems, owner, today, kind):
    customer = factories.customer(name="Anna Archer", email="anna@example.test", language="en")
    if kind == "quote":
        document = factories.document(customer, "quote", amount="800.00")
    elif kind == "accepted quote":
        document = factories.document(customer, "quote", status=DocumentStatus.accepted, decided_by_name="Anna")
    elif kind == "draft":
        document = factories.document(customer, "invoice", draft=True)
    elif kind == "reminder":
        late = factories.invoice(customer, due_in_days=-40)
        document = factories.reminder(customer, [late], level=3, fee="15.00", interest="2.10")
    else:
        document = factories.document(customer, kind)
    log_in(page, owner)
    page.set_viewport_size(PHONE)
    page.goto(f"/admin/documents/{document.id}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    if kind == "quote":  # the decision form with its errors shown
        page.get_by_role("button", name="Record decision").click()
        expect(page.get_by_text("Choose accepted or rejected.")).to_be_visible()
        expect(page.get_by_label("Decided by")).to_have_attribute("aria-invalid", "true")
    assert axe_violations(page) == []
    forgive_refusals(page_problems, r"/documents/\d+/decision", 1 if kind == "quote" else 0)
    page_problems.assert_none()
