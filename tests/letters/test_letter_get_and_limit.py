"""Opening a letter changes nothing; printing it is recorded by a button; PDFs are throttled.

A GET of the print view or the PDF writes no audit entry (a prefetching browser, a link
preview or a crafted <img> must not put "Letter printed" in a customer's history). Staff
record a printed letter with the print view's "Mark this letter as printed" button (a POST
with the CSRF token). The PDF route, which costs a WeasyPrint rendering each time, is
limited per staff member.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import db
from models.documents import DocumentStatus
from tests import factories
from tests.conftest import StaffClient, login, soup_of

BUTTON = "Mark this letter as printed"


@pytest.fixture
def debtor(app):
    return factories.customer(email=None, name="Dora Debtor", street="Keizersgracht 12", postal_code="1015 CX",
                              city="Amsterdam", country="NL", language="en")


@pytest.fixture
def invoice(debtor):
    return factories.invoice(debtor, amount="100.00", vat="21")


def printed_events(app) -> list[tuple]:
    with app.app_context():
        return [(e.actor_staff_id, e.customer_id, e.entity_id, e.changes.get("kind", [None, None])[1])
                for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "letter.printed")
                                            .order_by(AuditEvent.id))]


def test_opening_a_letter_or_its_pdf_writes_no_audit_entry(app, owner_client, invoice, pdf_available):
    for kind in ("invoice", "reminder"):
        assert owner_client.get(f"/admin/invoices/{invoice.id}/letter?kind={kind}").status_code == 200
        assert owner_client.get(f"/admin/invoices/{invoice.id}/letter.pdf?kind={kind}").status_code == 200
    assert printed_events(app) == []


def _mark_button(soup):
    button = soup.find("button", string=lambda s: s and s.strip() == BUTTON)
    assert button is not None, soup.prettify()[:1500]
    return button.find_parent("form")


@pytest.mark.parametrize("kind", ["invoice", "reminder"])
def test_the_print_view_records_a_printed_letter_with_a_button(app, owner_client, owner, invoice, debtor, kind):
    soup = owner_client.soup(f"/admin/invoices/{invoice.id}/letter?kind={kind}")
    form = _mark_button(soup)
    assert form["method"] == "post"
    fields = {i["name"]: i.get("value") for i in form.find_all("input")}
    assert fields["kind"] == kind and fields["csrf_token"]

    response = owner_client.client.post(form["action"], data=fields)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/documents/{invoice.id}"
    assert printed_events(app) == [(owner.id, debtor.id, invoice.id, kind)]
    page = soup_of(owner_client.get(response.headers["Location"]))
    assert "Recorded in the customer's history: letter printed." in page.get_text(" ", strip=True)
    history = owner_client.soup(f"/admin/customers/{debtor.id}/info").get_text(" ", strip=True)
    assert "Letter printed" in history


def test_recording_needs_the_form_token_a_visible_invoice_and_a_printable_letter(app, owner_client, invoice, debtor):
    url = f"/admin/invoices/{invoice.id}/letter/printed"
    assert owner_client.client.post(url, data={"kind": "invoice"}).status_code == 400  # no CSRF token
    assert owner_client.get(url).status_code == 405
    assert owner_client.post(url, data={"kind": "quote"}).status_code == 400
    paid = factories.invoice(debtor, status=DocumentStatus.paid, amount_paid="121.00")
    refused = owner_client.post(f"/admin/invoices/{paid.id}/letter/printed", data={"kind": "reminder"})
    assert refused.status_code == 302
    assert "only for unpaid invoices" in soup_of(owner_client.get(refused.headers["Location"])).get_text(" ", strip=True)
    employee = factories.staff(role="employee")
    stranger = StaffClient(login(app.test_client(), employee), employee)
    assert stranger.post(url, data={"kind": "invoice"}).status_code == 404
    assert printed_events(app) == []


def test_the_pdf_is_limited_per_staff_member(app, owner_client, invoice, pdf_available, monkeypatch):
    monkeypatch.setitem(app.config, "LETTER_PDF_LIMIT", "3 per minute")
    url = f"/admin/invoices/{invoice.id}/letter.pdf?kind=invoice"
    assert [owner_client.get(url).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert "Too many attempts" in soup_of(owner_client.get(url)).get_text(" ", strip=True)
    # a colleague (from the same office address) has a limit of their own
    colleague = factories.staff(role="admin")
    other = StaffClient(login(app.test_client(), colleague), colleague)
    assert other.get(url).status_code == 200
    # the print view is not the expensive part and stays open
    assert owner_client.get(f"/admin/invoices/{invoice.id}/letter?kind=invoice").status_code == 200


def test_the_pdf_has_a_limit_by_default(app):
    limit = app.config["LETTER_PDF_LIMIT"]
    assert "per minute" in limit
