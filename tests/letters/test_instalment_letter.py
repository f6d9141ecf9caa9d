"""The reminder letter of an unpaid instalment: what the automatic reminder run lists for a
customer without an e-mail address, now with a letter to print.

Read like its reader reads it: the headings and labels in the customer's language, the
dossier link as text and as a QR code, and the EPC payment code -- decoded for real from the
print view and from the rendered PDF -- for the instalment's amount with the RF reference of
the plan's invoice it pays first. Staff reach it from the letter list, only for customers
they may see, and mark it printed there or from the letter itself.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import clock
from models.audit import AuditEvent
from models.db import db, now_utc
from models.documents import Document, DocumentStatus
from models.dossier import DossierLink
from models.dunning import DunningNotice
from models.instalments import Instalment, InstalmentPlan, PlanStatus
from models.services import epc, letters
from tests import factories
from tests.conftest import TEST_CONFIG, input_value, soup_of
from tests.dunning.helpers import TODAY, notices, overdue, plan, run, schedule
from tests.epc.conftest import parse_epc, pdf_qr_codes_all_pages, seller  # noqa: F401 (the fixture)
from tests.letters.conftest import decode_svg, no_space, pdf_available, pdf_text  # noqa: F401 (the fixture)

BASE_URL = TEST_CONFIG["BASE_URL"]
BUTTON = "Mark this letter as printed"


@pytest.fixture
def debtor(app):
    """Reached by post: no e-mail address, a full postal address, English."""
    return factories.customer(email=None, name="Dora Debtor", street="Keizersgracht 12", postal_code="1015 CX",
                              city="Amsterdam", country="NL", language="en")


def arrangement(app, customer, *, status: PlanStatus = PlanStatus.active, currency: str = "EUR",
                due=(-8, -3, 20)) -> tuple[int, list[int], object]:
    """An instalment plan of `customer` over an overdue invoice: (plan id, instalment ids by
    position, the invoice). Instalments of 50.00, due the given days from today."""
    invoice = overdue(customer, 40, amount="150.00", currency=currency)
    plan_id = plan(app, customer, [invoice], status, due=[TODAY + timedelta(days=d) for d in due])
    with app.app_context():
        record = db.session.get(InstalmentPlan, plan_id)
        record.currency = currency
        ids = [i.id for i in sorted(record.instalments, key=lambda i: i.position)]
        db.session.commit()
    return plan_id, ids, invoice


def letter_url(instalment_id: int, pdf: bool = False) -> str:
    return f"/admin/instalments/{instalment_id}/letter{'.pdf' if pdf else ''}"


def reference(soup) -> dict[str, str]:
    block = soup.find("dl", class_="reference")
    return {dt.get_text(strip=True): dt.find_next_sibling("dd").get_text(strip=True) for dt in block.find_all("dt")}


def summary_row(soup) -> dict[str, str]:
    table = soup.find(id="summary")
    return dict(zip((th.get_text(strip=True) for th in table.thead.find_all("th")),
                    (td.get_text(strip=True) for td in table.tbody.find_all("td"))))


def epc_codes(codes: list[str]) -> list[dict]:
    return [parse_epc(code) for code in codes if code.startswith("BCD")]


def count(app, model, **filters) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).filter_by(**filters))


def printed_events(app) -> list[tuple]:
    with app.app_context():
        return [(e.entity_type, e.entity_id, e.customer_id) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "letter.printed").order_by(AuditEvent.id))]


# --- from the letter list to the letter and back -----------------------------------------------


def test_the_letter_list_links_the_instalment_letter_and_marks_it_printed(app, owner_client, seller, debtor):
    schedule(app)
    plan_id, (first, *_rest), invoice = arrangement(app, debtor)
    result = run(app, TODAY)
    assert [(i.instalment_id, i.channel) for i in result.instalments] == [(first, "letter")]

    table = owner_client.soup("/admin/reminders/letters").find("table", id="letters")
    row = table.find("a", string="Dora Debtor").find_parent("tr")
    link = row.find("a", string="Reminder letter for instalment 1")
    assert link["href"] == letter_url(first)
    assert row.find("a", string="PDF")["href"] == letter_url(first, pdf=True)

    soup = owner_client.soup(link["href"])
    assert soup.find("h1").get_text(" ", strip=True) == "Payment reminder · Instalment 1"
    assert soup.title.get_text(" ", strip=True) == "Payment reminder · Instalment 1"
    with app.app_context():
        day = clock.today()  # the business's date (its time zone), which the letter carries
    assert reference(soup) == {"Date": f"{day:%B} {day.day}, {day.year}", "Customer number": debtor.number,
                               "Instalment plan": str(plan_id), "Instalment": "1 of 3"}
    due = TODAY - timedelta(days=8)
    assert summary_row(soup) == {"Instalment": "1 of 3", "Due date": f"{due:%b} {due.day}, {due.year}",
                                 "Amount": "€50.00"}
    text = soup.find(id="letter").get_text(" ", strip=True)
    assert (f"instalment 1 of your payment arrangement, €50.00 due on {due:%b} {due.day}, {due.year}, "
            "is still unpaid.") in text
    assert "Please pay it now, so that the plan can continue." in text
    assert "please disregard this reminder" in text
    assert list(soup.find(id="recipient").stripped_strings) == [
        "Dora Debtor", "Keizersgracht 12", "1015 CX Amsterdam", "NETHERLANDS"]
    assert soup.find(class_="business-name").get_text(strip=True) == "Bakkerij Brood B.V."
    assert "NL004495445B01" in soup.find(id="seller").get_text(" ")
    assert soup.find(id="lines") is None  # the invoice's lines are not what is late

    # The toolbar: back to the list, the PDF, and "printed" (the list's button does the same).
    toolbar = soup.find("nav", attrs={"aria-label": "Letter"})
    assert toolbar.find("a", string="Back to the reminder letters")["href"] == "/admin/reminders/letters"
    assert toolbar.find("a", string="Download this letter as PDF")["href"] == letter_url(first, pdf=True)

    form = row.find("form")
    response = owner_client.post(form["action"], data={"notices": form.find("input", attrs={"name": "notices"})["value"]})
    assert response.status_code == 302
    assert owner_client.soup("/admin/reminders/letters").find("table", id="letters") is None
    assert [n.printed_at is not None for n in notices(app)] == [True]
    assert printed_events(app) == [("instalment", first, debtor.id)]


def test_the_print_views_button_marks_the_listed_letter_printed(app, owner_client, owner, debtor):
    schedule(app)
    _plan, (first, *_rest), _invoice = arrangement(app, debtor)
    run(app, TODAY)
    soup = owner_client.soup(letter_url(first))
    button = soup.find("button", string=lambda s: s and s.strip() == BUTTON)
    form = button.find_parent("form")
    assert form["method"] == "post" and form["action"] == f"/admin/instalments/{first}/letter/printed"
    fields = {i["name"]: i.get("value") for i in form.find_all("input")}
    assert fields["csrf_token"]
    assert printed_events(app) == []  # opening it recorded nothing

    response = owner_client.client.post(form["action"], data=fields)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/reminders/letters"
    page = soup_of(owner_client.get(response.headers["Location"]))
    assert "Recorded in the customer's history: letter printed." in page.get_text(" ", strip=True)
    assert page.find("table", id="letters") is None  # it left the list
    assert [n.printed_at is not None for n in notices(app)] == [True]
    assert printed_events(app) == [("instalment", first, debtor.id)]
    # Printed once more (a second copy): the trail says so again; the notice stays printed once.
    assert owner_client.post(form["action"]).status_code == 302
    assert printed_events(app) == [("instalment", first, debtor.id)] * 2
    history = owner_client.soup(f"/admin/customers/{debtor.id}/info").get_text(" ", strip=True)
    assert "Letter printed" in history


def test_the_form_needs_its_token(app, owner_client, debtor):
    _plan, (first, *_rest), _invoice = arrangement(app, debtor)
    assert owner_client.client.post(f"/admin/instalments/{first}/letter/printed").status_code == 400
    assert owner_client.get(f"/admin/instalments/{first}/letter/printed").status_code == 405
    assert printed_events(app) == []


# --- what it says, in the customer's language ------------------------------------------------


@pytest.mark.parametrize("language, heading, labels", [
    ("en", "Payment reminder · Instalment 2", ("Instalment plan", "Instalment", "Customer number")),
    ("nl", "Betalingsherinnering · Termijn 2", ("Betalingsregeling", "Termijn", "Klantnummer")),
    ("de", "Zahlungserinnerung · Rate 2", ("Ratenplan", "Rate", "Kundennummer")),
])
def test_the_letter_speaks_the_customers_language(app, owner_client, language, heading, labels):
    customer = factories.customer(email=None, language=language)
    _plan, (_first, second, _third), _invoice = arrangement(app, customer)
    soup = owner_client.soup(letter_url(second))
    assert soup.html["lang"] == language
    assert soup.find("h1").get_text(" ", strip=True) == heading
    assert set(labels) <= set(reference(soup))
    assert soup.find("nav", attrs={"aria-label": "Letter"})["lang"] == "en"  # the toolbar is staff's


def test_the_pdf_carries_the_text_the_dossier_link_and_both_codes(app, pdf_available, seller, owner_client, debtor):
    _plan, (first, *_rest), invoice = arrangement(app, debtor)
    response = owner_client.get(letter_url(first, pdf=True))
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"] == \
        f'inline; filename="{debtor.number}-instalment-{_plan}-1.pdf"'
    text = pdf_text(response.data)
    assert "Payment reminder · Instalment 1" in text
    assert "still unpaid" in " ".join(text.split()) and "€50.00" in text
    url = input_value(owner_client.soup(f"/admin/customers/{debtor.id}/info"), "Dossier link")
    assert url.startswith(BASE_URL + "/d/") and url in no_space(text)
    assert "Receive your invoices by e-mail" in text
    codes = pdf_qr_codes_all_pages(response.data)
    assert url in codes
    [code] = epc_codes(codes)
    assert code == {"charset": "1", "bic": "ABNANL2A", "name": "Bakkerij Brood B.V.", "iban": "NL91ABNA0417164300",
                    "amount": Decimal("50.00"), "purpose": "", "reference": epc.rf_reference(invoice.number),
                    "text": ""}
    assert epc.grouped(code["reference"]) in text


def test_the_print_views_payment_code_is_for_the_instalment(app, seller, owner_client, debtor):
    _plan, (first, *_rest), invoice = arrangement(app, debtor)
    soup = owner_client.soup(letter_url(first))
    block = soup.find(id="bank-transfer")
    assert block.find("h2").get_text(strip=True) == "Pay by bank transfer"
    [code] = epc_codes(decode_svg(block.find(id="epc-qr").find("svg")))
    assert (code["amount"], code["reference"]) == (Decimal("50.00"), epc.rf_reference(invoice.number))
    assert block.find(id="payment-reference").get_text(strip=True) == epc.grouped(epc.rf_reference(invoice.number))
    url = soup.find(id="dossier-url").get_text(strip=True)
    assert decode_svg(soup.find(id="dossier-qr").find("svg")) == [url]


def test_another_currency_gets_no_code_but_a_note(app, seller, owner_client, debtor):
    _plan, (first, *_rest), _invoice = arrangement(app, debtor, currency="USD")
    soup = owner_client.soup(letter_url(first))
    assert soup.find(id="epc-qr") is None
    note = soup.find(id="epc-note").get_text(" ", strip=True)
    assert "only for amounts in euros" in note and "this instalment is in USD" in note
    assert soup.find(id="payment-iban").get_text(strip=True) == "NL91 ABNA 0417 1643 00"
    assert summary_row(soup)["Amount"] == "$50.00"


@pytest.mark.parametrize("reminder_asks, email, provided, asks", [
    (True, None, None, True),
    (False, None, None, False),
    (True, None, "left@example.test", False),  # left on the dossier, waiting for staff
    (True, "known@example.test", None, False),
])
def test_the_email_request_follows_the_reminder_letter_setting(app, owner_client, letter_settings, reminder_asks,
                                                                email, provided, asks):
    letter_settings(letter_invoice_asks_email=not reminder_asks, letter_reminder_asks_email=reminder_asks)
    customer = factories.customer(email=email, provided_email=provided, language="en")
    _plan, (first, *_rest), _invoice = arrangement(app, customer)
    request = owner_client.soup(letter_url(first)).find(id="email-request")
    assert (request is not None) is asks
    if asks:
        assert request.find("h2").get_text(strip=True) == "Receive your invoices by e-mail"


def test_the_service_builds_the_letter(app, seller, debtor):
    """models.services.letters, without a request: what the view renders."""
    _plan, (first, *_rest), invoice = arrangement(app, debtor)
    with app.app_context():
        instalment = db.session.get(Instalment, first)
        letter = letters.build_instalment_letter(instalment, link_url=lambda token: f"https://x.test/d/{token}",
                                                 today=TODAY)
        assert letter.kind is letters.LetterKind.instalment and letter.is_instalment and letter.reminds
        assert letter.invoice is None and letter.plan.id == _plan and letter.instalment.position == 1
        assert (letter.payment.amount, letter.payment.currency) == (Decimal("50.00"), "EUR")
        assert letter.payment.reference == epc.rf_reference(invoice.number) and letter.payment.svg
        assert letter.payment_number == invoice.number
        assert letter.dossier_url.startswith("https://x.test/d/") and letter.asks_for_email
        assert letter.language == "en" and letter.filename == f"{debtor.number}-instalment-{_plan}-1.pdf"
        db.session.rollback()


def test_the_first_open_invoice_of_the_plan_is_the_reference(app, seller, owner_client, debtor):
    """An instalment pays the plan's invoices oldest due first (as online): the reference is
    the oldest one that still owes something."""
    older = overdue(debtor, 60, amount="80.00", status=DocumentStatus.paid, amount_paid="80.00")
    old = overdue(debtor, 50, amount="80.00")
    new = overdue(debtor, 30, amount="80.00")
    plan_id = plan(app, debtor, [new, older, old], PlanStatus.active, due=[TODAY - timedelta(days=8)])
    with app.app_context():
        first = db.session.scalar(select(Instalment.id).where(Instalment.plan_id == plan_id))
    soup = owner_client.soup(letter_url(first))
    assert soup.find(id="payment-reference").get_text(strip=True) == epc.grouped(epc.rf_reference(old.number))


# --- refused: nothing printable, nobody's business ----------------------------------------------


def _change(app, instalment_id: int, **values) -> None:
    with app.app_context():
        instalment = db.session.get(Instalment, instalment_id)
        for name, value in values.items():
            target = instalment.plan if name == "status" else instalment
            setattr(target, name, value)
        db.session.commit()


@pytest.mark.parametrize("pdf", [False, True])
@pytest.mark.parametrize("change, message", [
    ({"paid_at": "now"}, "This instalment is paid: a reminder letter is only for unpaid instalments."),
    ({"status": PlanStatus.cancelled}, "This instalment plan is not active"),
    ({"status": PlanStatus.pending}, "This instalment plan is not active"),
    ({"due_date": TODAY + timedelta(days=3)}, "This instalment is not due until"),
    ({"invoice": "paid"}, "The invoices of this plan have nothing left to pay."),
], ids=["paid", "cancelled", "pending", "not-due", "invoices-paid"])
def test_no_letter_when_there_is_nothing_to_remind_of(app, owner_client, debtor, change, message, pdf):
    if pdf:
        from tests.letters.conftest import require_pdf

        require_pdf(app)
    _plan, (first, *_rest), invoice = arrangement(app, debtor)
    if change.get("invoice") == "paid":
        with app.app_context():
            document = db.session.get(Document, invoice.id)
            document.status, document.amount_paid = DocumentStatus.paid, document.gross_total
            db.session.commit()
    else:
        _change(app, first, **{k: now_utc() if v == "now" else v for k, v in change.items()})
    response = owner_client.get(letter_url(first, pdf=pdf))
    assert response.status_code == 409
    assert soup_of(response).find("h1").get_text(" ", strip=True).startswith(message)
    assert count(app, DossierLink, customer_id=debtor.id) == 0  # rolled back
    refused = owner_client.post(f"/admin/instalments/{first}/letter/printed")
    assert refused.status_code == 302
    assert message in soup_of(owner_client.get(refused.headers["Location"])).get_text(" ", strip=True)
    assert printed_events(app) == []


@pytest.mark.parametrize("method, path", [("GET", ""), ("GET", ".pdf"), ("POST", "/printed")])
def test_an_employee_not_assigned_to_the_customer_gets_404(app, employee_client, debtor, method, path):
    schedule(app)
    _plan, (first, *_rest), _invoice = arrangement(app, debtor)
    run(app, TODAY)
    url = letter_url(first) + path
    response = employee_client.get(url) if method == "GET" else employee_client.post(url)
    assert response.status_code == 404
    assert "Dora Debtor" not in response.get_data(as_text=True)
    assert count(app, DossierLink, customer_id=debtor.id) == 0
    assert printed_events(app) == [] and all(n.printed_at is None for n in notices(app))
    # ... and the letter list does not show them the row either.
    assert employee_client.soup("/admin/reminders/letters").find("table", id="letters") is None


@pytest.mark.parametrize("pdf", [False, True])
def test_an_assigned_employee_prints_the_letter(app, employee_client, employee, pdf):
    if pdf:
        from tests.letters.conftest import require_pdf

        require_pdf(app)
    customer = factories.customer(email=None, assigned_to=[employee])
    _plan, (first, *_rest), _invoice = arrangement(app, customer)
    assert employee_client.get(letter_url(first, pdf=pdf)).status_code == 200


def test_unknown_instalments_and_anonymous_visitors(app, client, owner_client, debtor):
    _plan, (first, *_rest), _invoice = arrangement(app, debtor)
    for pdf in (False, True):
        assert owner_client.get(letter_url(999999, pdf=pdf)).status_code == 404
        assert client.get(letter_url(first, pdf=pdf)).status_code in (302, 401)
    assert owner_client.post("/admin/instalments/999999/letter/printed").status_code == 404


def test_the_pdf_is_limited_per_staff_member(app, pdf_available, owner_client, debtor, monkeypatch):
    monkeypatch.setitem(app.config, "LETTER_PDF_LIMIT", "2 per minute")
    _plan, (first, *_rest), invoice = arrangement(app, debtor)
    assert [owner_client.get(letter_url(first, pdf=True)).status_code for _ in range(3)] == [200, 200, 429]
    assert "Too many attempts" in soup_of(owner_client.get(letter_url(first, pdf=True))).get_text(" ", strip=True)
    assert owner_client.get(letter_url(first)).status_code == 200  # the print view stays open


def test_the_letter_list_costs_the_same_statements_with_instalments(app, owner_client):
    """Instalment rows are read by the list's one statement too: 2 or 12 of them cost the same."""
    from tests.conftest import count_queries

    schedule(app)
    counts = []
    for size in (2, 12):
        for n in range(size):
            arrangement(app, factories.customer(email=None, name=f"Plan {size}-{n}"))
        run(app, TODAY)
        owner_client.get("/admin/reminders/letters")
        with count_queries(app) as statements:
            soup = owner_client.soup("/admin/reminders/letters")
        links = soup.find("table", id="letters").find_all("a", string="Reminder letter for instalment 1")
        assert len(links) == size + (2 if size == 12 else 0)
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
