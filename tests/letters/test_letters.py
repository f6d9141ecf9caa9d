"""Printed letters: the invoice letter and the reminder letter, as print view and PDF.

Read like their readers read them: the debtor finds the dossier URL and can scan the QR
code (decoded here for real), is asked for an e-mail address exactly when that makes
sense, and reads it in their language; staff only reach letters of customers they may see.
"""

from __future__ import annotations

import io
import socket
import threading

import pytest
import segno
from PIL import Image
from sqlalchemy import func, select

from admin import letters as letter_views
from models.audit import AuditEvent
from models.customers import Customer, CustomerKind
from models.db import db
from models.documents import DocumentStatus
from models.dossier import DossierLink
from models.services import dossier
from models.services.pdf import html_to_pdf, load_weasyprint
from tests import factories
from tests.conftest import TEST_CONFIG, input_value, soup_of
from tests.letters.conftest import decode_svg, no_space, pdf_qr_codes, pdf_text, qr_matrix, require_pdf

BASE_URL = TEST_CONFIG["BASE_URL"]
KINDS = ("invoice", "reminder")


def letter_url(invoice, kind: str, pdf: bool = False) -> str:
    return f"/admin/invoices/{invoice.id}/letter{'.pdf' if pdf else ''}?kind={kind}"


def info_tab_url(staff, customer) -> str:
    """The dossier link as staff see it on the customer's Info tab."""
    return input_value(staff.soup(f"/admin/customers/{customer.id}/info"), "Dossier link")


def count(app, model, **filters) -> int:
    with app.app_context():
        stmt = select(func.count()).select_from(model).filter_by(**filters)
        return db.session.scalar(stmt)


@pytest.fixture
def debtor(app):
    """A customer reached by post: no e-mail address, a full postal address, English."""
    return factories.customer(email=None, name="Dora Debtor", street="Keizersgracht 12",
                              postal_code="1015 CX", city="Amsterdam", country="NL", language="en")


@pytest.fixture
def invoice(debtor):
    return factories.invoice(debtor, amount="100.00", vat="21")


# --- the dossier URL and its QR code ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_printed_dossier_url_is_the_link_staff_see(app, owner_client, invoice, debtor, kind):
    soup = owner_client.soup(letter_url(invoice, kind))
    printed = soup.find(id="dossier-url").get_text(strip=True)
    assert printed.startswith(BASE_URL + "/d/")
    assert printed == info_tab_url(owner_client, debtor)


def test_issuing_a_letter_creates_the_dossier_link_once(app, owner_client, invoice, debtor):
    assert count(app, DossierLink, customer_id=debtor.id) == 0
    first = owner_client.soup(letter_url(invoice, "invoice")).find(id="dossier-url").get_text(strip=True)
    assert count(app, DossierLink, customer_id=debtor.id) == 1  # committed, not just shown
    again = owner_client.soup(letter_url(invoice, "reminder")).find(id="dossier-url").get_text(strip=True)
    assert first == again == info_tab_url(owner_client, debtor)
    assert count(app, DossierLink, customer_id=debtor.id) == 1
    # ... and the printed link opens the debtor's dossier.
    assert owner_client.get(first[len(BASE_URL):]).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_the_qr_code_decodes_to_the_dossier_url(app, owner_client, invoice, kind):
    soup = owner_client.soup(letter_url(invoice, kind))
    url = soup.find(id="dossier-url").get_text(strip=True)
    figure = soup.find(id="dossier-qr")
    assert figure["role"] == "img" and figure["aria-label"]
    svg = figure.find("svg")
    assert decode_svg(svg) == [url]
    # The same code segno makes for that URL, quiet zone included (four modules of white).
    expected = segno.make(url, error="m", micro=False)
    grid = qr_matrix(svg)
    assert [row[4:-4] for row in grid[4:-4]] == [[bool(cell) for cell in row] for row in expected.matrix]


def test_a_rotated_link_is_printed_on_the_next_letter(app, owner_client, invoice, debtor):
    old = owner_client.soup(letter_url(invoice, "invoice")).find(id="dossier-url").get_text(strip=True)
    with app.app_context():
        dossier.rotate(None, db.session.get(Customer, debtor.id))
        db.session.commit()
    soup = owner_client.soup(letter_url(invoice, "invoice"))
    new = soup.find(id="dossier-url").get_text(strip=True)
    assert new != old and new == info_tab_url(owner_client, debtor)
    assert decode_svg(soup.find(id="dossier-qr").find("svg")) == [new]


# --- asking for an e-mail address --------------------------------------------------------------


@pytest.mark.parametrize(
    "email, provided, invoice_asks, reminder_asks, kind, asks",
    [
        (None, None, True, True, "invoice", True),
        (None, None, True, True, "reminder", True),
        (None, None, False, True, "invoice", False),
        (None, None, False, True, "reminder", True),
        (None, None, True, False, "invoice", True),
        (None, None, True, False, "reminder", False),
        (None, None, False, False, "invoice", False),
        (None, None, False, False, "reminder", False),
        ("known@example.test", None, True, True, "invoice", False),
        ("known@example.test", None, True, True, "reminder", False),
        # Left on the dossier and waiting for staff: the dossier thanks instead of asking.
        (None, "left@example.test", True, True, "invoice", False),
        (None, "left@example.test", True, True, "reminder", False),
    ],
)
def test_the_email_request_appears_exactly_when_no_address_is_known_and_the_setting_is_on(
    app, owner_client, letter_settings, email, provided, invoice_asks, reminder_asks, kind, asks
):
    letter_settings(letter_invoice_asks_email=invoice_asks, letter_reminder_asks_email=reminder_asks)
    customer = factories.customer(email=email, provided_email=provided, language="en")
    soup = owner_client.soup(letter_url(factories.invoice(customer), kind))
    request = soup.find(id="email-request")
    assert (request is not None) is asks
    if asks:
        assert request.find("h2").get_text(strip=True) == "Receive your invoices by e-mail"
        assert "Leave one in your online dossier" in request.get_text(" ", strip=True)


def test_without_saved_settings_letters_ask_for_an_address(app, owner_client, invoice):
    """Before anyone saved the settings, the defaults (both on) apply."""
    for kind in KINDS:
        assert owner_client.soup(letter_url(invoice, kind)).find(id="email-request") is not None


def test_the_pdf_carries_the_email_request_too(app, pdf_available, owner_client, letter_settings, invoice):
    letter_settings(letter_invoice_asks_email=True, letter_reminder_asks_email=False)
    assert "Receive your invoices by e-mail" in pdf_text(owner_client.get(letter_url(invoice, "invoice", pdf=True)).data)
    assert "Receive your invoices by e-mail" not in pdf_text(owner_client.get(letter_url(invoice, "reminder", pdf=True)).data)


# --- language ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "language, invoice_heading, reminder_heading",
    [
        ("en", "Invoice {number}", "Payment reminder · Invoice {number}"),
        ("nl", "Factuur {number}", "Betalingsherinnering · Factuur {number}"),
        ("de", "Rechnung {number}", "Zahlungserinnerung · Rechnung {number}"),
    ],
)
def test_the_letter_speaks_the_customers_language(app, owner_client, language, invoice_heading, reminder_heading):
    customer = factories.customer(email=None, language=language)
    invoice = factories.invoice(customer)
    soup = owner_client.soup(letter_url(invoice, "invoice"))
    assert soup.html["lang"] == language
    assert soup.find("h1").get_text(" ", strip=True) == invoice_heading.format(number=invoice.number)
    reminder = owner_client.soup(letter_url(invoice, "reminder"))
    assert reminder.find("h1").get_text(" ", strip=True) == reminder_heading.format(number=invoice.number)
    # The toolbar around it is for staff, in the staff member's language (English here).
    toolbar = soup.find("nav", attrs={"aria-label": "Letter"})
    assert toolbar["lang"] == "en"
    assert toolbar.find("a", string="Back to the invoice")["href"] == f"/admin/documents/{invoice.id}"


def test_the_pdf_speaks_the_customers_language(app, pdf_available, owner_client):
    invoice = factories.invoice(factories.customer(email=None, language="de"))
    text = pdf_text(owner_client.get(letter_url(invoice, "invoice", pdf=True)).data)
    assert f"Rechnung {invoice.number}" in text


# --- what the letter says ----------------------------------------------------------------------


def test_the_invoice_letter_has_letterhead_address_summary_and_lines(app, owner_client, letter_settings, invoice):
    letter_settings(business_name="Acme Supplies", address="Dorpsstraat 5\n1234 AB Utrecht",
                    sender_name="Anna from Acme")
    soup = owner_client.soup(letter_url(invoice, "invoice"))
    assert soup.find(class_="business-name").get_text(strip=True) == "Acme Supplies"
    assert "Dorpsstraat 5" in soup.find(class_="business-address").get_text()
    assert soup.find(class_="return-line").get_text(strip=True) == "Acme Supplies · Dorpsstraat 5, 1234 AB Utrecht"
    address = [line.strip() for line in soup.find(id="recipient").stripped_strings]
    assert address == ["Dora Debtor", "Keizersgracht 12", "1015 CX Amsterdam", "NETHERLANDS"]
    summary = soup.find(id="summary")
    headers = [th.get_text(strip=True) for th in summary.thead.find_all("th")]
    values = [td.get_text(strip=True) for td in summary.tbody.find_all("td")]
    row = dict(zip(headers, values))
    assert row["Invoice number"] == invoice.number
    assert row["Amount"] == "€121.00" and row["Outstanding"] == "€121.00"
    assert "Paid" not in row
    lines = soup.find(id="lines")
    assert [td.get_text(strip=True) for td in lines.tbody.find("tr").find_all("td")] == [
        "Work", "1", "€100.00", "21%", "€100.00"]
    assert "Anna from Acme" in soup.find(class_="closing").get_text()


def test_the_reminder_letter_shows_what_is_still_open_without_lines(app, owner_client):
    customer = factories.customer(email=None, language="en")
    invoice = factories.invoice(customer, amount="100.00", vat="21", status=DocumentStatus.partially_paid,
                                amount_paid="21.00", due_in_days=-10)
    soup = owner_client.soup(letter_url(invoice, "reminder"))
    row = dict(zip((th.get_text(strip=True) for th in soup.find(id="summary").thead.find_all("th")),
                   (td.get_text(strip=True) for td in soup.find(id="summary").tbody.find_all("td"))))
    assert (row["Amount"], row["Paid"], row["Outstanding"]) == ("€121.00", "€21.00", "€100.00")
    assert soup.find(id="lines") is None
    assert "please disregard this reminder" in soup.get_text()


def test_a_company_gets_its_name_and_the_contact_on_the_address(app, owner_client):
    customer = factories.customer(kind=CustomerKind.company, company_name="Bakkerij Brood BV", name="Bea Brood",
                                  street="Markt 1", postal_code="5611 AA", city="Eindhoven", country="DE",
                                  language="nl", email=None)
    soup = owner_client.soup(letter_url(factories.invoice(customer), "invoice"))
    assert list(soup.find(id="recipient").stripped_strings) == [
        "Bakkerij Brood BV", "Bea Brood", "Markt 1", "5611 AA Eindhoven", "DUITSLAND"]


def test_the_logo_is_inline_and_the_page_passes_the_csp(app, pdf_available, owner_client, letter_settings, invoice):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buffer, "PNG")
    letter_settings(logo=buffer.getvalue(), logo_content_type="image/png", logo_version=1)
    response = owner_client.get(letter_url(invoice, "invoice"))
    soup = soup_of(response)
    assert soup.find("img", class_="logo")["src"].startswith("data:image/png;base64,")
    csp = response.headers["Content-Security-Policy"]
    assert "img-src 'self' data:" in csp and "style-src 'self'" in csp
    # Nothing the CSP would block: no inline style or script, only the app's own stylesheets
    # (the printed sheet's, shared with documents, and the letter's).
    assert not soup.find_all(style=True) and not soup.find_all(["style", "script"])
    stylesheets = [link["href"] for link in soup.find_all("link", rel="stylesheet")]
    assert stylesheets == ["/static/css/document.css", "/static/css/letter.css"]
    assert all(owner_client.get(href).status_code == 200 for href in stylesheets)
    pdf = owner_client.get(letter_url(invoice, "invoice", pdf=True))
    assert pdf.status_code == 200 and b"/Image" in pdf.data


def test_printing_a_letter_is_audited(app, pdf_available, owner_client, owner, invoice, debtor):
    """Opening a letter records nothing; its "Mark this letter as printed" button does
    (tests/letters/test_letter_get_and_limit.py)."""
    owner_client.get(letter_url(invoice, "reminder"))
    owner_client.get(letter_url(invoice, "invoice", pdf=True))
    assert count(app, AuditEvent, action="letter.printed") == 0
    for kind in ("reminder", "invoice"):
        owner_client.post(f"/admin/invoices/{invoice.id}/letter/printed", data={"kind": kind})
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "letter.printed")
                                    .order_by(AuditEvent.id)).all()
        assert [(e.actor_staff_id, e.customer_id, e.entity_id, e.changes["kind"][1]) for e in events] == [
            (owner.id, debtor.id, invoice.id, "reminder"), (owner.id, debtor.id, invoice.id, "invoice")]
    history = owner_client.soup(f"/admin/customers/{debtor.id}/info").get_text(" ", strip=True)
    assert "Letter printed" in history


# --- PDF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_pdf_has_the_invoice_number_the_dossier_url_and_a_readable_qr_code(app, pdf_available, owner_client, invoice, debtor, kind):
    response = owner_client.get(letter_url(invoice, kind, pdf=True))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f'inline; filename="{invoice.number}-{kind}.pdf"'
    assert response.data.startswith(b"%PDF-")
    url = info_tab_url(owner_client, debtor)
    text = pdf_text(response.data)
    assert invoice.number in text
    assert url in no_space(text)
    assert pdf_qr_codes(response.data) == [url]


def test_without_weasyprint_the_pdf_answers_503_and_the_print_view_still_works(app, owner_client, invoice, monkeypatch):
    monkeypatch.setattr(letter_views, "load_weasyprint", lambda: None)
    response = owner_client.get(letter_url(invoice, "invoice", pdf=True))
    assert response.status_code == 503
    assert "PDF letters are not available on this server" in soup_of(response).find("h1").get_text()
    assert owner_client.get(letter_url(invoice, "invoice")).status_code == 200


def test_weasyprint_fetches_nothing(app, pdf_available):
    """Whatever a letter refers to -- an http(s) URL, a local file, a relative path -- the
    PDF renderer requests nothing; a listening socket sees no connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    connections = []

    def accept():
        try:
            while True:
                connections.append(listener.accept()[0])
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    html = (f'<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css">'
            f'<p>Hello</p><img src="http://127.0.0.1:{port}/x.png"><img src="file:///etc/hostname">'
            f'<img src="/static/favicon.svg"><svg><image href="http://127.0.0.1:{port}/y.png"/></svg>')
    with app.app_context():
        pdf = html_to_pdf(load_weasyprint(), html, letter_views.STYLESHEETS)
    thread.join(timeout=2)
    listener.close()
    assert pdf.startswith(b"%PDF-")
    assert connections == []


# --- access and refusals -----------------------------------------------------------------------


@pytest.mark.parametrize("pdf", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_an_employee_not_assigned_to_the_customer_gets_404(app, employee_client, invoice, debtor, kind, pdf):
    response = employee_client.get(letter_url(invoice, kind, pdf=pdf))
    assert response.status_code == 404
    assert count(app, DossierLink, customer_id=debtor.id) == 0  # nothing issued either
    assert count(app, AuditEvent, action="letter.printed") == 0


@pytest.mark.parametrize("pdf", [False, True])
def test_an_assigned_employee_prints_letters(app, employee_client, employee, pdf):
    if pdf:
        require_pdf(app)
    invoice = factories.invoice(factories.customer(email=None, assigned_to=[employee]))
    assert employee_client.get(letter_url(invoice, "reminder", pdf=pdf)).status_code == 200


def test_an_unknown_invoice_is_404(app, owner_client):
    assert owner_client.get("/admin/invoices/999999/letter?kind=invoice").status_code == 404
    assert owner_client.get("/admin/invoices/999999/letter.pdf?kind=invoice").status_code == 404


@pytest.mark.parametrize("pdf", [False, True])
def test_no_reminder_letter_for_a_paid_invoice(app, owner_client, pdf):
    if pdf:
        require_pdf(app)
    customer = factories.customer(email=None)
    paid = factories.invoice(customer, status=DocumentStatus.paid, amount_paid="121.00")
    response = owner_client.get(letter_url(paid, "reminder", pdf=pdf))
    assert response.status_code == 409
    assert "only for unpaid invoices" in soup_of(response).find("h1").get_text()
    assert count(app, DossierLink, customer_id=customer.id) == 0  # rolled back
    assert count(app, AuditEvent, action="letter.printed") == 0
    # The invoice letter of a paid invoice is fine (a copy for the records).
    assert owner_client.get(letter_url(paid, "invoice", pdf=pdf)).status_code == 200


def test_no_letter_for_a_cancelled_invoice_and_no_unknown_kinds(app, pdf_available, owner_client, invoice):
    cancelled = factories.invoice(factories.customer(), status=DocumentStatus.cancelled)
    assert owner_client.get(letter_url(cancelled, "invoice")).status_code == 409
    assert owner_client.get(letter_url(invoice, "quote")).status_code == 400
    assert owner_client.get(letter_url(invoice, "quote", pdf=True)).status_code == 400
    assert owner_client.get(f"/admin/invoices/{invoice.id}/letter").status_code == 200  # invoice letter by default


def test_letters_need_a_staff_login(app, client, invoice):
    for pdf in (False, True):
        response = client.get(letter_url(invoice, "invoice", pdf=pdf))
        assert response.status_code in (302, 401)


# --- the invoice page links to them ------------------------------------------------------------


def test_the_invoice_page_links_to_both_letters_while_unpaid(app, pdf_available, owner_client, invoice):
    section = owner_client.soup(f"/admin/invoices/{invoice.id}").find(id="letters")
    hrefs = {a.get_text(strip=True): a["href"] for a in section.find_all("a")}
    assert hrefs == {
        "Open the invoice letter for printing": letter_url(invoice, "invoice"),
        "Invoice letter as PDF": letter_url(invoice, "invoice", pdf=True),
        "Open the reminder letter for printing": letter_url(invoice, "reminder"),
        "Reminder letter as PDF": letter_url(invoice, "reminder", pdf=True),
    }
    for href in hrefs.values():
        assert owner_client.get(href).status_code == 200


def test_a_paid_invoice_offers_no_reminder_letter_and_a_cancelled_one_no_letter(app, owner_client):
    customer = factories.customer()
    paid = factories.invoice(customer, status=DocumentStatus.paid, amount_paid="121.00")
    links = [a.get_text(strip=True) for a in owner_client.soup(f"/admin/invoices/{paid.id}").find(id="letters").find_all("a")]
    assert links == ["Open the invoice letter for printing", "Invoice letter as PDF"]
    cancelled = factories.invoice(customer, status=DocumentStatus.cancelled)
    assert owner_client.soup(f"/admin/invoices/{cancelled.id}").find(id="letters") is None
