"""Every kind of document as print view and PDF (staff), and each released document's own
page and PDF in the dossier (/d/<token>/documents/<id>), read the way its reader reads it:
the heading, the number, the dates and the totals of each kind; drafts marked DRAFT; and
only what the link's customer may see -- a draft, an unreleased document, a kind the
settings keep back or another customer's document is a 404."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from flask import render_template
from sqlalchemy import select, update

from models.db import db
from models.documents import Document
from models.services import dossier
from models.services.settings import get_settings
from tests import factories
from tests.conftest import TEST_CONFIG, count_queries, soup_of
from tests.letters.conftest import pdf_text, require_pdf

BASE_URL = TEST_CONFIG["BASE_URL"]
ENGLISH = {"Accept-Language": "en"}


def save_settings(app, **values) -> None:
    with app.app_context():
        settings = get_settings(for_update=True)
        for name, value in values.items():
            setattr(settings, name, value)
        db.session.commit()


def set_document(app, document, **values) -> None:
    with app.app_context():
        factories.write_directly(update(Document).where(Document.id == document.id).values(**values))
        db.session.commit()


def token_of(app, customer) -> str:
    with app.app_context():
        token = dossier.current_token(customer.id)
        db.session.commit()
        return token


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def customer(app):
    return factories.customer(name="Dora Debtor", language="en", street="Keizersgracht 12",
                              postal_code="1015 CX", city="Amsterdam", country="NL")


@pytest.fixture
def kinds(app, customer):
    """One document of every kind (the reminder asks for two overdue invoices)."""
    invoice = factories.invoice(customer, amount="100.00", vat="21")  # 121.00
    overdue = factories.invoice(customer, amount="50.00", vat="0", due_in_days=-20)
    return {
        "invoice": invoice,
        "quote": factories.document(customer, "quote", amount="200.00", vat="21", valid_days=30),
        "credit_note": factories.credit_note(invoice, amount="21.00", vat="0"),
        "reminder": factories.reminder(customer, [overdue, invoice], level=2, fee="7.50", interest="1.25"),
        "delivery_note": factories.document(customer, "delivery_note", amount="80.00"),
        "order_confirmation": factories.document(customer, "order_confirmation", amount="300.00", vat="21"),
    }


# What each kind's reader must find: heading and number, dates, totals -- and what must not be there.
def expectations(kinds) -> dict[str, tuple[list[str], list[str]]]:
    return {
        "invoice": ([f"Invoice {kinds['invoice'].number}", "Due date", "Total €121.00", "Paid €0.00",
                     "Credited €21.00", "Outstanding €100.00"], ["DRAFT"]),
        "quote": ([f"Quote {kinds['quote'].number}", "Valid until", "Total €242.00"], ["Outstanding", "Due date"]),
        "credit_note": ([f"Credit note {kinds['credit_note'].number}",
                         f"This credit note refers to invoice {kinds['invoice'].number}", "Total €21.00"],
                        ["Outstanding"]),
        "reminder": ([f"2nd reminder {kinds['reminder'].number}", "Outstanding on these invoices €150.00",
                      "Reminder fee €7.50", "Interest €1.25", "Total due €158.75", "Due date"], []),
        "delivery_note": ([f"Delivery note {kinds['delivery_note'].number}", "Work 1"],
                          ["€", "Total", "Unit price"]),
        "order_confirmation": ([f"Order confirmation {kinds['order_confirmation'].number}", "Total €363.00"],
                               ["Outstanding", "Due date", "Paid"]),
    }


# --- staff: print view and PDF ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["invoice", "quote", "credit_note", "reminder", "delivery_note", "order_confirmation"])
def test_the_print_view_of_each_kind(owner_client, kinds, kind):
    soup = owner_client.soup(f"/admin/documents/{kinds[kind].id}/print")
    sheet = soup.find("article", id="document")
    text = words(sheet.get_text(" "))
    shown, absent = expectations(kinds)[kind]
    for expected in shown:
        assert expected in text, (expected, text)
    for unexpected in absent:
        assert unexpected not in text, (unexpected, text)
    assert sheet.find("h1").get_text(strip=True).endswith(kinds[kind].number)
    assert "Dora Debtor" in soup.find(id="recipient").get_text(" ")
    assert "NETHERLANDS" not in text and "Netherlands" in text  # the country in the document's language
    toolbar = soup.find("nav", attrs={"aria-label": "Document"})
    assert toolbar.find("a", string="Download as PDF")["href"] == f"/admin/documents/{kinds[kind].id}/pdf"


@pytest.mark.parametrize("kind", ["invoice", "quote", "credit_note", "reminder", "delivery_note", "order_confirmation"])
def test_the_pdf_of_each_kind(app, owner_client, kinds, kind):
    require_pdf(app)
    response = owner_client.get(f"/admin/documents/{kinds[kind].id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    filename = f"{kind.replace('_', '-')}-{kinds[kind].number}.pdf"
    assert response.headers["Content-Disposition"] == f'inline; filename="{filename}"'
    text = words(pdf_text(response.data))
    shown, absent = expectations(kinds)[kind]
    for expected in shown:
        assert expected in text, (expected, text)
    for unexpected in absent:
        assert unexpected not in text, (unexpected, text)


def test_a_reminder_lists_its_invoices_with_what_was_outstanding(owner_client, kinds):
    soup = owner_client.soup(f"/admin/documents/{kinds['reminder'].id}/print")
    table = soup.find("table", id="reminded-invoices")
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in table.tbody.find_all("tr")]
    overdue_number = rows[0][0]
    # The invoice was credited 21.00 before the reminder: 100.00 was outstanding on it that day.
    assert [(row[0], row[3]) for row in rows] == [(overdue_number, "€50.00"), (kinds["invoice"].number, "€100.00")]


@pytest.mark.parametrize("level, title", [(1, "1st reminder"), (3, "Final notice")])
def test_a_reminder_is_titled_by_its_level(owner_client, customer, level, title):
    invoice = factories.invoice(customer, due_in_days=-10)
    reminder = factories.reminder(customer, [invoice], level=level)
    heading = owner_client.soup(f"/admin/documents/{reminder.id}/print").find("h1").get_text(strip=True)
    assert heading == f"{title} {reminder.number}"


def test_a_draft_prints_draft_prominently(app, owner_client, customer):
    draft = factories.document(customer, "invoice", draft=True, amount="40.00", vat="0")
    soup = owner_client.soup(f"/admin/documents/{draft.id}/print")
    assert soup.find(id="draft-stamp").get_text(strip=True) == "DRAFT"
    assert soup.find("h1").get_text(strip=True) == "Invoice DRAFT"
    assert "Paid" not in soup.find(id="lines").get_text()  # nothing is paid on a draft
    require_pdf(app)
    response = owner_client.get(f"/admin/documents/{draft.id}/pdf")
    assert f'filename="invoice-draft-{draft.id}.pdf"' in response.headers["Content-Disposition"]
    assert pdf_text(response.data).lstrip().startswith("DRAFT")


def test_the_document_is_in_its_own_language(app, owner_client, customer):
    german = factories.customer(name="Kurt Kunde", language="de", country="DE")
    invoice = factories.invoice(german, amount="10.00", vat="0")
    quote = factories.document(customer, "quote", amount="10.00", vat="0")
    set_document(app, quote, language="de")  # the document's own language wins over the customer's
    for document in (invoice, quote):
        soup = owner_client.soup(f"/admin/documents/{document.id}/print")
        assert soup.find("article", id="document")["lang"] == "de"
        assert soup.find("nav", attrs={"aria-label": "Document"}).find("a", string="Download as PDF")  # staff's language
    assert owner_client.soup(f"/admin/documents/{invoice.id}/print").find("h1").get_text(strip=True) == \
        f"Rechnung {invoice.number}"
    assert "Deutschland" in owner_client.soup(f"/admin/documents/{invoice.id}/print").find(id="recipient").get_text()


def test_the_business_branding_is_on_the_document(app, owner_client, customer):
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
           b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")
    save_settings(app, business_name="Bakkerij Brood", address="Dorpsstraat 1\n1234 AB Ergens",
                  logo=png, logo_content_type="image/png")
    invoice = factories.invoice(customer)
    soup = owner_client.soup(f"/admin/documents/{invoice.id}/print")
    head = soup.find("header", class_="sheet-head")
    assert head.find("img")["alt"] == "Bakkerij Brood"
    assert head.find("img")["src"].startswith("data:image/png;base64,")  # inline: nothing is fetched
    assert "Dorpsstraat 1" in head.get_text()


def test_staff_reach_only_documents_of_customers_they_may_see(app, employee_client, owner_client):
    theirs = factories.customer(name="Not Assigned")
    mine = factories.customer(name="Assigned", assigned_to=[employee_client.user])
    hidden = factories.document(theirs, "quote")
    visible = factories.document(mine, "quote")
    for path in ("print", "pdf"):
        assert employee_client.get(f"/admin/documents/{hidden.id}/{path}").status_code == 404
        assert owner_client.get(f"/admin/documents/{10**9}/{path}").status_code == 404
    assert employee_client.get(f"/admin/documents/{visible.id}/print").status_code == 200


def test_the_print_view_runs_a_bounded_number_of_queries(app, owner_client, customer):
    def queries(invoice_count: int) -> int:
        invoices = [factories.invoice(customer, due_in_days=-5) for _ in range(invoice_count)]
        reminder = factories.reminder(customer, invoices)
        with count_queries(app) as statements:
            assert owner_client.get(f"/admin/documents/{reminder.id}/print").status_code == 200
        return len(statements)

    assert queries(1) == queries(12)


# --- the dossier: each released document's own page ---------------------------------------


def test_each_released_document_has_its_own_page_in_the_dossier(app, client, customer, kinds):
    token = token_of(app, customer)
    for kind, document in kinds.items():
        with app.app_context():
            url = dossier.document_url(db.session.get(Document, document.id))
        assert url == f"{BASE_URL}/d/{token}/documents/{document.id}"
        response = client.get(url[len(BASE_URL):], headers=ENGLISH)
        assert response.status_code == 200, kind
        assert response.headers["Cache-Control"] == "no-store"
        soup = soup_of(response)
        assert soup.h1.get_text(strip=True).endswith(document.number)
        text = words(soup.find("article", id="document").get_text(" "))
        for expected in expectations(kinds)[kind][0]:
            assert expected in text, (kind, expected)
        assert soup.find("a", string="Download PDF")["href"] == f"/d/{token}/documents/{document.id}/pdf"
        assert soup.find("a", string="Print view")["href"] == f"/d/{token}/documents/{document.id}?print=1"


def test_the_old_invoice_address_shows_the_same_page(app, client, customer, kinds):
    token = token_of(app, customer)
    invoice = kinds["invoice"]
    old = soup_of(client.get(f"/d/{token}/invoices/{invoice.id}", headers=ENGLISH))
    new = soup_of(client.get(f"/d/{token}/documents/{invoice.id}", headers=ENGLISH))
    assert old.find("article", id="document").get_text() == new.find("article", id="document").get_text()
    assert new.find("button", string="Pay €100.00 now")  # an invoice's page keeps its Pay button
    assert client.get(f"/d/{token}/invoices/{kinds['quote'].id}").status_code == 404  # only invoices there


def test_what_the_customer_does_not_see_is_not_found(app, client, customer, kinds):
    token = token_of(app, customer)
    stranger = factories.customer(name="Stranger Things")
    theirs = factories.document(stranger, "quote", amount="999.00")
    draft = factories.document(customer, "invoice", draft=True)
    unreleased = factories.document(customer, "order_confirmation", released_to_portal=False)
    cancelled = factories.invoice(customer)
    set_document(app, cancelled, status="cancelled")
    for document in (theirs, draft, unreleased, cancelled):
        for suffix in ("", "/pdf"):
            response = client.get(f"/d/{token}/documents/{document.id}{suffix}", headers=ENGLISH)
            assert response.status_code == 404, (document.kind, suffix)
            assert "999" not in response.get_data(as_text=True)
    # A kind the settings do not release: its documents are gone from the dossier, the others stay.
    save_settings(app, released_kinds=["invoice", "reminder"])
    assert client.get(f"/d/{token}/documents/{kinds['quote'].id}").status_code == 404
    assert client.get(f"/d/{token}/documents/{kinds['quote'].id}/pdf").status_code == 404
    assert client.get(f"/d/{token}/documents/{kinds['reminder'].id}").status_code == 200
    save_settings(app, released_kinds=["quote"])  # invoices too, at their old address and when paid for
    assert client.get(f"/d/{token}/invoices/{kinds['invoice'].id}").status_code == 404
    assert client.get(f"/d/{token}/documents/{kinds['invoice'].id}").status_code == 404
    assert client.get(f"/d/{token}/documents/{kinds['quote'].id}").status_code == 200


def test_the_pdf_download_follows_the_setting(app, client, customer, kinds):
    token = token_of(app, customer)
    quote = kinds["quote"]
    save_settings(app, allow_pdf_download=False)
    soup = soup_of(client.get(f"/d/{token}/documents/{quote.id}", headers=ENGLISH))
    assert soup.find("a", string="Download PDF") is None
    assert client.get(f"/d/{token}/documents/{quote.id}/pdf").status_code == 404
    save_settings(app, allow_pdf_download=True)
    require_pdf(app)
    response = client.get(f"/d/{token}/documents/{quote.id}/pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert response.headers["Content-Disposition"] == f'attachment; filename="quote-{quote.number}.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    assert f"Quote {quote.number}" in pdf_text(response.data)


def test_opening_a_document_is_seen_by_staff(app, client, customer, kinds):
    token = token_of(app, customer)
    client.get(f"/d/{token}/documents/{kinds['delivery_note'].id}")
    with app.app_context():
        assert db.session.get(Document, kinds["delivery_note"].id).last_viewed_at is not None
        assert db.session.get(Document, kinds["quote"].id).last_viewed_at is None


def test_a_dead_link_reaches_no_document(app, client, owner, customer, kinds):
    token = token_of(app, customer)
    with app.app_context():
        from models.customers import Customer
        from models.staff import StaffUser

        dossier.rotate(db.session.get(StaffUser, owner.id), db.session.get(Customer, customer.id))
        db.session.commit()
    assert client.get(f"/d/{token}/documents/{kinds['quote'].id}").status_code == 404


def test_the_document_page_runs_a_bounded_number_of_queries(app, client, customer):
    token = token_of(app, customer)

    def queries(invoice_count: int) -> int:
        invoices = [factories.invoice(customer, due_in_days=-5) for _ in range(invoice_count)]
        reminder = factories.reminder(customer, invoices)
        client.get(f"/d/{token}/documents/{reminder.id}")  # "viewed" is written once a minute
        with count_queries(app) as statements:
            assert client.get(f"/d/{token}/documents/{reminder.id}").status_code == 200
        return len(statements)

    assert queries(1) == queries(12)


# --- the document page's "Customer portal" box ---------------------------------------------


def portal_box(app, document_id: int, manager: bool = True):
    from bs4 import BeautifulSoup

    with app.test_request_context():
        from flask_login import login_user

        from models.staff import StaffUser

        user = db.session.scalar(select(StaffUser).where(StaffUser.role == ("owner" if manager else "employee")))
        login_user(user)
        release = dossier.portal_release(db.session.get(Document, document_id))
        db.session.commit()
        html = render_template("admin/documents/_portal_box.html", portal=release)
    return BeautifulSoup(html, "html.parser")


def test_the_portal_box_shows_the_url_and_says_when_the_customer_cannot_see_it(app, owner, customer, kinds):
    token = token_of(app, customer)
    quote = kinds["quote"]
    box = portal_box(app, quote.id)
    field = box.find(id=box.find("label", string="Document link")["for"])
    assert field["value"] == f"{BASE_URL}/d/{token}/documents/{quote.id}" and field.has_attr("readonly")
    copy = box.find("button", string="Copy")
    assert copy["data-copy"] == field["id"] and copy.has_attr("hidden")  # shown by static/js/copy.js
    assert box.find("script")["src"] == "/static/js/copy.js"
    assert "The customer sees this document" in box.find(id="portal-visibility").get_text()

    draft = factories.document(customer, "invoice", draft=True)
    unreleased = factories.document(customer, "delivery_note", released_to_portal=False)
    cases = [(draft.id, "a draft is never shown"), (unreleased.id, "not released to the portal")]
    for document_id, reason in cases:
        assert reason in portal_box(app, document_id).find(id="portal-visibility").get_text()
    save_settings(app, released_kinds=["invoice"])
    notice = portal_box(app, quote.id).find(id="portal-visibility")
    assert "the settings do not release this kind of document" in notice.get_text()
    assert notice.find("a", string="Settings")["href"] == "/admin/settings#documents-h"


def test_the_copy_script_is_served_from_the_app(client):
    response = client.get("/static/js/copy.js")
    assert response.status_code == 200
    assert b"navigator.clipboard" in response.data


def test_a_quote_valid_date_and_decision_are_printed(app, owner_client, customer):
    quote = factories.document(customer, "quote", issue_date=date(2026, 3, 2), valid_days=10)
    text = words(owner_client.soup(f"/admin/documents/{quote.id}/print").find("article").get_text(" "))
    assert "This quote is valid until March 12, 2026." in text
    set_document(app, quote, status="accepted", decided_by_name="Dora Debtor",
                 decided_at=datetime(2026, 3, 5, 10, tzinfo=timezone.utc))
    text = words(owner_client.soup(f"/admin/documents/{quote.id}/print").find("article").get_text(" "))
    assert "Accepted by Dora Debtor on March 5, 2026." in text
