"""E-invoice fixtures: a seller with every detail an e-invoice carries, buyers with non-ASCII
names in three countries, and the validation every generated file must pass.

`fatal_rules(xml)` runs the official EN 16931 rules (models/services/einvoice/rules, the
copy of ../shared/einvoice the app ships) with SaxonC-HE, exactly as
../shared/einvoice/validate.py does, and returns the fatal rules that fired.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree
from pypdf import PdfReader

from models.db import db
from models.documents import Document
from models.services import credit_notes, recorded_payments  # noqa: F401 - the services the tests use
from models.services import documents as document_service
from models.services.einvoice import validation
from models.services.settings import get_settings
from tests import factories

ISSUED = date(2026, 11, 2)


def fatal_rules(xml: bytes) -> list[str]:
    """The fatal EN 16931 rules that fire on `xml`, as 'ID: text'."""
    return [str(failure) for failure in validation.fatal_failures(xml)]


def assert_valid(xml: bytes) -> None:
    root = etree.fromstring(xml)
    assert validation.syntax_of(root) in ("CII", "UBL"), root.tag
    assert fatal_rules(xml) == []


def embedded_xml(pdf: bytes) -> bytes:
    """The factur-x.xml a Factur-X PDF carries (read with pypdf, as validate.py does)."""
    attachments = PdfReader(io.BytesIO(pdf)).attachments
    assert "factur-x.xml" in attachments, list(attachments)
    return attachments["factur-x.xml"][0]


def save_settings(app, **values) -> None:
    with app.app_context():
        settings = get_settings(for_update=True)
        for name, value in values.items():
            setattr(settings, name, value)
        db.session.commit()


SELLER = dict(
    business_name="Müller & Søn Gärtnerei GmbH", sender_name="Jürgen Ørsted", sender_email="rechnung@mueller.example",
    street="Straße des 17. Juni 1", postal_code="10623", city="Berlin", country="DE",
    iban="DE89370400440532013000", bic="COBADEFFXXX", account_holder="Müller & Søn Gärtnerei GmbH",
    vat_id="DE123456789", tax_number="27/123/45678", registration_number="HRB 12345 B",
)


@pytest.fixture
def seller(app):
    save_settings(app, **SELLER)
    return SELLER


@pytest.fixture
def buyer(app):
    """A German company with ß, ä and é in its names."""
    return factories.customer(number="K-1001", kind="company", name="Renée Weiß", company_name="Bäckerei Weiß KG",
                              email="buchhaltung@weiss.example", street="Hauptstraße 5", postal_code="80331",
                              city="München", country="DE", vat_id="DE987654321", language="de")


@pytest.fixture
def eu_buyer(app):
    """A Danish business with a VAT id: zero-rated lines to it are reverse charge."""
    return factories.customer(number="K-2002", kind="company", name="Søren Ødegård", company_name="Ødegård ApS",
                              email="faktura@odegard.example", street="Østergade 3", postal_code="1100",
                              city="København", country="DK", vat_id="DK12345678", language="en")


def make_document(customer, lines: list[tuple[str, str, str, str]], *, kind: str = "invoice", notes: str | None = None):
    """A document of `kind` with lines (description, quantity, unit price, VAT rate)."""
    from models.customers import Customer
    from models.documents import DocumentKind

    with factories._saving() as created:
        record = document_service.create_document(
            None, db.session.get(Customer, customer.id), DocumentKind(kind), issue_date=ISSUED, currency="EUR",
            due_date=date(2026, 11, 30) if kind == "invoice" else None, notes=notes,
            lines=[document_service.LineInput(d, Decimal(q), Decimal(p), Decimal(r)) for d, q, p, r in lines])
        created.append(record)
    return record


def credit_note_for(invoice, lines: list[tuple[str, str, str, str]]):
    with factories._saving() as created:
        record = credit_notes.create_credit_note(
            None, db.session.get(Document, invoice.id), issue_date=ISSUED,
            lines=[document_service.LineInput(d, Decimal(q), Decimal(p), Decimal(r)) for d, q, p, r in lines])
        created.append(record)
    return record
