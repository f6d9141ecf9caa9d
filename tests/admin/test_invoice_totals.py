"""An invoice asks for money: its total is more than zero, and a reminder goes out only
while something is still outstanding (a credit is a credit note, never a negative invoice)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from models.db import db
from models.documents import Document
from models.outbox import OutboundEmail
from models.services import documents as document_service
from models.services import notifications
from models.services.errors import DomainError
from tests import factories
from tests.conftest import soup_of

NOT_POSITIVE = "The invoice total must be more than zero. Money owed to the customer is a credit note, not an invoice."
NOTHING_OUTSTANDING = "Nothing is outstanding on this invoice: no reminder is sent."


@pytest.fixture(autouse=True)
def _redis_unreachable(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def customer(app):
    return factories.customer(name="Ingrid Invoice", email="ingrid@example.test", language="en")


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def form_data(*lines: tuple[str, str]) -> dict:
    data = {"issue_date": "2025-03-01", "due_date": "2025-03-15", "currency": "EUR", "action": "save"}
    for i, (price, vat) in enumerate(lines):
        data.update({f"lines-{i}-description": f"Line {i}", f"lines-{i}-quantity": "1",
                     f"lines-{i}-unit_price": price, f"lines-{i}-vat_rate": vat})
    return data


def lines_error(soup) -> str | None:
    """The message the Lines group carries, tied to it for screen readers."""
    fieldset = soup.find("legend", string="Lines").find_parent("fieldset")
    for ref in (fieldset.get("aria-describedby") or "").split():
        node = soup.find(id=ref)
        if node is not None and "error" in (node.get("class") or []):
            return node.get_text(" ", strip=True)
    return None


@pytest.mark.parametrize("lines", [
    [("-100.00", "21")],  # a negative invoice
    [("0.00", "21")],  # nothing to ask
    [("100.00", "21"), ("-121.00", "0")],  # a discount line larger than the work
])
def test_an_invoice_total_of_zero_or_less_is_refused_at_the_lines(app, owner_client, customer, lines):
    response = owner_client.post(f"/admin/customers/{customer.id}/invoices/new", data=form_data(*lines))
    assert response.status_code == 422
    soup = soup_of(response)
    assert lines_error(soup) == NOT_POSITIVE
    assert soup.find(id="lines-0-unit_price")["value"] == lines[0][0]  # nothing typed is lost
    assert count(app, Document) == 0


def test_a_discount_line_in_an_invoice_that_still_asks_for_money_is_fine(app, owner_client, customer):
    response = owner_client.post(f"/admin/customers/{customer.id}/invoices/new",
                                 data=form_data(("100.00", "21"), ("-20.00", "21")))
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Document.gross_total)) == Decimal("96.80")


def test_the_service_refuses_it_too(app, customer):
    """Every caller (imports, the API) goes through create_invoice: the rule lives there."""
    from datetime import date

    with app.app_context():
        with pytest.raises(DomainError) as refused:
            document_service.create_invoice(
                None, customer, issue_date=date(2025, 3, 1), due_date=date(2025, 3, 15), currency="EUR",
                lines=[document_service.LineInput("Refund", Decimal("1"), Decimal("-50.00"), Decimal("0"))])
        assert (str(refused.value.message), refused.value.field) == (NOT_POSITIVE, "lines")
        db.session.rollback()


def _stored_as(app, invoice_id: int, **values) -> None:
    """A row as older versions could leave it (a negative total, a paid amount never marked paid)."""
    with app.app_context():
        db.session.execute(update(Document).where(Document.id == invoice_id).values(**values))
        db.session.commit()


@pytest.mark.parametrize("stored", [
    {"amount_paid": Decimal("121.00")},  # open, yet nothing left
    {"gross_total": Decimal("-50.00"), "net_total": Decimal("-50.00"), "tax_total": Decimal("0.00")},
])
def test_no_reminder_for_an_invoice_with_nothing_outstanding(app, owner_client, customer, stored):
    invoice = factories.invoice(customer, due_in_days=-10)
    _stored_as(app, invoice.id, **stored)
    soup = owner_client.soup(f"/admin/invoices/{invoice.id}")
    assert soup.find("button", string="Send reminder") is None  # not offered

    token = soup.find("input", attrs={"name": "csrf_token"})["value"]
    response = owner_client.post(f"/admin/invoices/{invoice.id}/send", data={"csrf_token": token, "reminder": "1"},
                                 follow_redirects=True)
    assert response.status_code == 200
    box = soup_of(response).find(class_="flashes")
    assert box is not None and NOTHING_OUTSTANDING in box.get_text(" ", strip=True)
    assert count(app, OutboundEmail) == 0

    with app.app_context():
        with pytest.raises(DomainError):
            notifications.send_reminder(None, db.session.get(Document, invoice.id))
        db.session.rollback()
