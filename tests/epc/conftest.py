"""Helpers for the payment-code tests: read the EPC QR code the way a banking app does."""

from __future__ import annotations

from decimal import Decimal

import pypdfium2
import pytest

from models.db import db
from models.services.settings import get_settings
from tests.letters.conftest import decode_image, pdf_available  # noqa: F401 (the fixture)

SELLER = dict(business_name="Bakkerij Brood B.V.", street="Oudegracht 1", postal_code="3511 AB", city="Utrecht",
              country="NL", iban="NL91ABNA0417164300", bic="ABNANL2A", account_holder="Bakkerij Brood B.V.",
              vat_id="NL004495445B01", tax_number="12345678", registration_number="KvK 30123456")


@pytest.fixture
def seller(app):
    """Saves the business's seller details (or others: `seller(iban=None)`)."""

    def save(**values):
        with app.app_context():
            settings = get_settings(for_update=True)
            for name, value in {**SELLER, **values}.items():
                setattr(settings, name, value)
            db.session.commit()

    save()
    return save


def pdf_qr_codes_all_pages(data: bytes) -> list[str]:
    """Every QR code on every page of the PDF, each page rendered at 200 dpi by PDFium."""
    document = pypdfium2.PdfDocument(data)
    try:
        return [text for page in document for text in decode_image(page.render(scale=200 / 72).to_pil())]
    finally:
        document.close()


def parse_epc(payload: str) -> dict:
    """An EPC069-12 payload (version 002) taken apart field by field; every rule of the
    standard that a banking app relies on is asserted on the way."""
    assert len(payload.encode("utf-8")) <= 331, "at most 331 bytes"
    lines = payload.split("\n")
    assert 10 <= len(lines) <= 12, lines
    service, version, charset, identification, bic, name, iban, amount, purpose, reference, *rest = lines
    text = rest[0] if rest else ""
    assert service == "BCD"
    assert version == "002"
    assert charset in {str(n) for n in range(1, 9)}
    assert identification == "SCT"
    assert len(bic) in (0, 8, 11)
    assert 0 < len(name) <= 70
    assert 5 <= len(iban) <= 34 and iban == iban.upper() and " " not in iban
    assert amount.startswith("EUR")
    value = Decimal(amount[3:])
    assert Decimal("0.01") <= value <= Decimal("999999999.99") and value == value.quantize(Decimal("0.01"))
    assert len(purpose) in (0, 4)
    assert bool(reference) != bool(text), "a structured reference or a text, never both"
    assert len(reference) <= 35 and len(text) <= 140
    return {"charset": charset, "bic": bic, "name": name, "iban": iban, "amount": value, "purpose": purpose,
            "reference": reference, "text": text}
