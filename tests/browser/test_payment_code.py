"""The dossier's invoice page with the bank details and the EPC QR code, on a 390 px wide
phone: the code is visible whole, nothing scrolls sideways, and axe-core finds nothing."""

from __future__ import annotations

import pytest

from models.db import db
from models.services import dossier
from models.services.settings import get_settings
from tests import factories
from tests.browser.test_confirmations import PHONE, axe_violations, expect
from tests.epc.conftest import SELLER

pytestmark = pytest.mark.browser


def test_the_dossier_invoice_with_its_payment_code_on_a_phone(app, page, page_problems):
    customer = factories.customer(name="Dora Debtor", language="en", email=None)
    invoice = factories.invoice(customer, amount="1234.56", vat="21")
    with app.app_context():
        settings = get_settings(for_update=True)
        for name, value in SELLER.items():
            setattr(settings, name, value)
        token = dossier.current_token(customer.id)
        db.session.commit()
    page.set_viewport_size(PHONE)
    page.goto(f"/d/{token}/invoices/{invoice.id}")
    code = page.get_by_role("img", name="Payment QR code: scan it with your banking app to transfer €1,493.82")
    expect(code).to_be_visible()
    box = code.bounding_box()
    assert box["width"] >= 120 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(page.get_by_role("heading", name="Pay by bank transfer")).to_be_visible()
    assert axe_violations(page) == []
    page_problems.assert_none()


def test_the_bank_statements_page_with_waiting_transfers_on_a_phone(app, page, page_problems, owner):
    from pathlib import Path

    from tests.browser.conftest import log_in

    fixture = Path(__file__).parent.parent / "bank" / "fixtures" / "camt053_december.xml"
    log_in(page, owner)
    page.set_viewport_size(PHONE)
    page.goto("/admin/bank-statements")
    page.get_by_label("Bank statement").set_input_files(str(fixture))
    page.get_by_role("button", name="Import statement").click()
    expect(page.get_by_text("0 transfers booked.")).to_be_visible()  # no invoices here: all wait
    forms = page.get_by_role("form", name="Book the transfer of €77.77 from Unknown Person")
    expect(forms).to_be_visible()
    forms.get_by_role("button", name="Book on this invoice").click()
    expect(page.get_by_text("Enter the number of an open invoice.")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    assert axe_violations(page) == []
    page_problems.console_errors[:] = [e for e in page_problems.console_errors if "status of 422" not in e]
    page_problems.assert_none()
