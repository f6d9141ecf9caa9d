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
