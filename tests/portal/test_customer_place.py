"""One customer place, two ways in: every customer page is the same view and template from
the dossier link (/d/<token>/…) and from the portal login (/portal/…). Each test runs once
per way in (`visit`): documents by kind and by number, each document with its print view and
PDF, questions on any document, a quote's decision, paying one, the ticked or all invoices,
the paid history, the account statement and the instalment plans. Another customer's id,
an unreleased kind or document: 404 either way. The pages cost a bounded number of SQL
statements whatever the number of documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, insert, select

from models import clock
from models.customers import Customer
from models.db import db
from models.documents import Document, DocumentStatus
from models.outbox import OutboundEmail
from models.payments import Payment
from models.questions import DocumentMessage
from models.services import dossier, pdf, recorded_payments
from models.services.settings import get_settings
from models.staff import StaffUser
from tests import factories
from tests.conftest import count_queries, csrf_token, field_error, soup_of
from tests.portal.conftest import PORTAL_PASSWORD, active_login, logged_in

ENGLISH = {"Accept-Language": "en"}
WAYS = ("login", "link")


# --- the two ways in ---------------------------------------------------------------------------


@dataclass
class Visit:
    """A customer's browser, in by `way`: `prefix` is where their pages live."""

    way: str
    client: object
    prefix: str

    def url(self, path: str = "") -> str:
        return self.prefix + (path or ("/" if self.way == "login" else ""))

    def get(self, path: str = "", expect: int = 200, **kwargs):
        response = self.client.get(self.url(path), headers=ENGLISH, **kwargs)
        assert response.status_code == expect, (self.url(path), response.status_code, response.headers.get("Location"),
                                                response.data[:400])
        return response

    def soup(self, path: str = "", expect: int = 200) -> BeautifulSoup:
        return soup_of(self.get(path, expect))

    def post(self, path: str, data: dict | None = None):
        """As the page's form posts: with the session's CSRF token."""
        data = {"csrf_token": csrf_token(self.client, "/portal/login"), **(data or {})}
        return self.client.post(self.url(path), data=data, headers=ENGLISH)


def open_place(app, customer, way: str, email: str = "dora.login@example.com") -> Visit:
    client = app.test_client()
    if way == "login":
        active_login(app, customer, email)
        logged_in(client, email)
        return Visit(way, client, "/portal")
    with app.app_context():
        token = dossier.current_token(customer.id)
        db.session.commit()
    return Visit(way, client, f"/d/{token}")


def set_settings(app, **values) -> None:
    with app.app_context():
        current = get_settings(for_update=True)
        for name, value in values.items():
            setattr(current, name, value)
        db.session.commit()


def change(app, document, **values) -> None:
    with app.app_context():
        record = db.session.get(Document, document.id)
        for name, value in values.items():
            setattr(record, name, value)
        db.session.commit()


def state(app, document) -> Document:
    with app.app_context():
        record = db.session.get(Document, document.id)
        db.session.expunge(record)
        return record


NOTICES = ("document_quote_accepted", "document_quote_rejected")


def outbox(app, *templates: str) -> list[OutboundEmail]:
    """The outbox rows of these templates (a login's own invitation is in the outbox too)."""
    with app.app_context():
        stmt = select(OutboundEmail).where(OutboundEmail.template.in_(templates)).order_by(OutboundEmail.id)
        rows = list(db.session.scalars(stmt))
        for row in rows:
            db.session.expunge(row)
        return rows


def table_rows(soup, table) -> list[dict[str, str]]:
    """Each body row of `table` as {column header: cell text}."""
    headers = [th.get_text(" ", strip=True) for th in table.thead.find_all("th")]
    return [dict(zip(headers, (td.get_text(" ", strip=True) for td in tr.find_all("td"))))
            for tr in table.tbody.find_all("tr")]


def numbers_listed(soup) -> list[str]:
    table = soup.find("table", id="documents")
    return [row["Number"] for row in table_rows(soup, table)] if table else []


def flashes(soup) -> list[str]:
    box = soup.find(class_="flashes")
    return [p.get_text(" ", strip=True) for p in box.find_all("p")] if box else []


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@dataclass
class Shelf:
    customer: Customer
    staff: StaffUser
    invoice: Document
    older: Document
    paid: Document
    quote: Document
    order: Document
    delivery: Document
    credit: Document


@pytest.fixture
def shelf(app, owner) -> Shelf:
    """Dora's documents: two open invoices, a paid one, a quote, an order confirmation, a
    delivery note and a credit note; Sam (staff) is assigned to her."""
    sam = factories.staff(role="employee", name="Sam Assigned", email="sam@example.test")
    dora = factories.customer(name="Dora Debtor", language="en", email="dora@example.test", assigned_to=[sam])
    invoice = factories.invoice(dora, amount="100.00")  # 121.00
    older = factories.invoice(dora, amount="50.00", vat="0", due_in_days=-3)  # 50.00, overdue
    paid = factories.invoice(dora, amount="10.00", vat="0", status=DocumentStatus.paid, amount_paid="10.00")
    quote = factories.document(dora, "quote", amount="400.00")
    order = factories.document(dora, "order_confirmation", amount="80.00")
    delivery = factories.document(dora, "delivery_note", amount="0.00")
    credit = factories.credit_note(invoice, amount="10.00")
    return Shelf(dora, sam, invoice, older, paid, quote, order, delivery, credit)


@pytest.fixture(params=WAYS)
def visit(request, app, shelf) -> Visit:
    return open_place(app, shelf.customer, request.param)


@pytest.fixture
def stranger(app):
    stan = factories.customer(name="Stan Stranger", language="en", email="stan@example.test")
    return stan, factories.invoice(stan, amount="999.00"), factories.document(stan, "quote", amount="777.00")


# --- the same pages from both ways in ----------------------------------------------------------


def test_both_ways_reach_the_same_pages(app, visit, shelf):
    overview = visit.soup()
    rows = table_rows(overview, overview.find("table", id="open-invoices"))
    assert sorted(r["Invoice"] for r in rows) == sorted([shelf.invoice.number, shelf.older.number])
    link = overview.find("a", string=shelf.invoice.number)
    assert link["href"] == visit.url(f"/documents/{shelf.invoice.id}")
    paid = overview.find("h2", string="Paid invoices").find_parent("section")
    assert paid.find("a", string=shelf.paid.number)["href"] == visit.url(f"/documents/{shelf.paid.id}")

    # The navigation leads to the documents and the statement, within the way in.
    nav = overview.find("nav")
    assert {a.get_text(strip=True): a["href"] for a in nav.find_all("a")}.items() >= {
        "Documents": visit.url("/documents"), "Account statement": visit.url("/statement")}.items()

    documents = visit.soup("/documents")
    assert documents.h1.get_text(strip=True) == "Your documents"
    assert sorted(numbers_listed(documents)) == sorted(d.number for d in (
        shelf.invoice, shelf.older, shelf.paid, shelf.quote, shelf.order, shelf.delivery, shelf.credit))

    for document, title in ((shelf.invoice, "Invoice"), (shelf.quote, "Quote"), (shelf.order, "Order confirmation"),
                            (shelf.delivery, "Delivery note"), (shelf.credit, "Credit note")):
        page = visit.soup(f"/documents/{document.id}")
        assert page.find(id="document-title").get_text(" ", strip=True) == f"{title} {document.number}"
        assert page.find("a", string="Print view")["href"] == visit.url(f"/documents/{document.id}?print=1")
        assert page.find("a", string="Download PDF")["href"] == visit.url(f"/documents/{document.id}/pdf")
        assert page.find(id="questions-h") is not None  # a question on any kind
        printed = visit.soup(f"/documents/{document.id}?print=1")
        assert "print-view" in printed.body.get("class", [])

    statement = visit.soup("/statement")
    assert statement.h1.get_text(strip=True) == "Account statement"
    assert visit.soup("/instalments").h1.get_text(strip=True) == "Pay in instalments"
    response = visit.get(f"/documents/{shelf.quote.id}")
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"


def test_the_pdf_of_any_kind_from_both_ways(app, visit, shelf):
    pytest.importorskip("weasyprint")
    with app.test_request_context():  # WeasyPrint needs Pango: skip where it cannot load
        if pdf.load_weasyprint() is None:
            pytest.skip("WeasyPrint cannot load Pango here")
    for document in (shelf.invoice, shelf.quote):
        response = visit.get(f"/documents/{document.id}/pdf")
        assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
        assert "attachment" in response.headers["Content-Disposition"]
    set_settings(app, allow_pdf_download=False)
    visit.get(f"/documents/{shelf.quote.id}/pdf", expect=404)
    assert visit.soup(f"/documents/{shelf.quote.id}").find("a", string="Download PDF") is None


def test_only_a_login_has_its_details_and_the_login_pages(app, shelf):
    login, link = open_place(app, shelf.customer, "login"), open_place(app, shelf.customer, "link")
    by_login, by_link = login.soup(), link.soup()
    assert by_login.h1.get_text(strip=True) == "Dora Debtor" and by_login.find("h2", string="Your details")
    assert by_link.h1.get_text(strip=True) == "Your dossier" and not by_link.find("h2", string="Your details")
    login_nav = [a.get_text(strip=True) for a in by_login.find("nav").find_all("a")]
    assert login_nav == ["Overview", "Documents", "Account statement", "Contact persons", "E-mail preferences",
                         "Your details", "Password"]
    assert [a.get_text(strip=True) for a in by_link.find("nav").find_all("a")] == ["Overview", "Documents",
                                                                                   "Account statement"]
    assert by_login.find(attrs={"role": "region", "aria-label": "Open account"}) is not None
    # The pages are the same template: the same table, the same headings.
    assert [th.get_text(strip=True) for th in login.soup("/documents").find("table").thead.find_all("th")] == \
           [th.get_text(strip=True) for th in link.soup("/documents").find("table").thead.find_all("th")]


def test_without_a_login_the_portal_pages_go_to_the_login(app, client, shelf):
    for path in ("/portal/documents", f"/portal/documents/{shelf.invoice.id}", "/portal/statement"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/portal/login?next=")


def test_a_form_sent_after_the_session_ended_leads_to_the_login_and_home(app, shelf):
    """The session ended (logged out elsewhere, idle) while a form was open: the login must
    not lead back to the form's address, which only takes POST (a 405 after logging in)."""
    visit = open_place(app, shelf.customer, "login")
    token = csrf_token(visit.client, "/portal/login")
    visit.client.post("/portal/logout", data={"csrf_token": token})
    token = csrf_token(visit.client, "/portal/login")
    sent = visit.client.post(f"/portal/documents/{shelf.invoice.id}/questions",
                             data={"csrf_token": token, "body": "Is this paid?"}, headers=ENGLISH)
    assert sent.status_code == 302 and sent.headers["Location"] == "/portal/login"
    login_page = soup_of(visit.client.get(sent.headers["Location"], headers=ENGLISH))
    assert "Your session has ended. Please log in again." in flashes(login_page)
    again = visit.client.post("/portal/login", data={"csrf_token": csrf_token(visit.client, "/portal/login"),
                                                     "email": "dora.login@example.com", "password": PORTAL_PASSWORD})
    assert again.headers["Location"] == "/portal/"
    assert visit.client.get(again.headers["Location"], headers=ENGLISH).status_code == 200
    # A page still opens again after the login.
    visit.client.post("/portal/logout", data={"csrf_token": csrf_token(visit.client, "/portal/login")})
    assert visit.client.get("/portal/statement").headers["Location"] == "/portal/login?next=/portal/statement?"


# --- what a place never reaches ----------------------------------------------------------------


def test_another_customers_documents_are_not_found(app, visit, shelf, stranger):
    stan, theirs, their_quote = stranger
    for path in (f"/documents/{theirs.id}", f"/documents/{their_quote.id}", f"/documents/{theirs.id}/pdf",
                 f"/documents/{10**9}"):
        response = visit.get(path, expect=404)
        assert "999" not in response.get_data(as_text=True) and stan.name not in response.get_data(as_text=True)
    for path, data in ((f"/documents/{theirs.id}/questions", {"body": "Whose is this?"}),
                       (f"/documents/{their_quote.id}/decision", {"decision": "accept", "name": "Mallory"}),
                       ("/pay", {"invoice": str(theirs.id)}),
                       ("/pay", {"invoice": "selected", "invoices": [str(shelf.invoice.id), str(theirs.id)]})):
        assert visit.post(path, data).status_code == 404, path
    assert state(app, their_quote).status == DocumentStatus.pending
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DocumentMessage)) == 0
        assert db.session.scalar(select(func.count()).select_from(Payment)) == 0
    assert stan.name not in visit.get("/documents").get_data(as_text=True)


def test_a_missing_page_leads_back_into_the_customers_place(app, visit, shelf):
    """The error page's way back stays within the way in: never "/", which is the staff login."""
    page = visit.soup(f"/documents/{10**9}", expect=404)
    back = page.find("main").find("a")
    if visit.way == "link":
        assert (back.get_text(strip=True), back["href"]) == ("Back to your dossier", visit.url())
    else:
        assert (back.get_text(strip=True), back["href"]) == ("Back to the start page", "/portal/")
    if visit.way == "link":  # an unknown link has no dossier to go back to
        unknown = soup_of(visit.client.get("/d/not-a-link", headers=ENGLISH))
        assert not [a for a in unknown.find_all("a") if a["href"] in ("/", "/admin/")]


def test_unreleased_kinds_and_documents_are_not_found(app, visit, shelf):
    set_settings(app, released_kinds=["invoice", "credit_note"])
    listed = visit.soup("/documents")
    assert shelf.quote.number not in numbers_listed(listed) and shelf.order.number not in numbers_listed(listed)
    tabs = [a.get_text(" ", strip=True) for a in listed.find("nav", attrs={"aria-label": "Kinds of documents"}).find_all("a")]
    assert tabs == ["All (4)", "Invoices (3)", "Credit notes (1)"]
    for path in (f"/documents/{shelf.quote.id}", f"/documents/{shelf.order.id}", "/documents?kind=quote",
                 "/documents?kind=nonsense", f"/documents/{shelf.quote.id}/pdf"):
        visit.get(path, expect=404)
    assert visit.post(f"/documents/{shelf.quote.id}/decision", {"decision": "accept", "name": "Dora"}).status_code == 404

    set_settings(app, released_kinds=None)
    draft = factories.document(shelf.customer, "invoice", draft=True)
    cancelled = factories.invoice(shelf.customer, status=DocumentStatus.cancelled)
    change(app, shelf.order, released_to_portal=False)
    for document in (draft, cancelled, shelf.order):
        visit.get(f"/documents/{document.id}", expect=404)
        assert visit.post(f"/documents/{document.id}/questions", {"body": "Hello?"}).status_code == 404
    numbers = numbers_listed(visit.soup("/documents"))
    assert shelf.order.number not in numbers and cancelled.number not in numbers and None not in numbers


# --- documents by kind, by number ------------------------------------------------------------


def test_documents_by_kind_and_by_number(app, visit, shelf):
    assert numbers_listed(visit.soup("/documents?kind=quote")) == [shelf.quote.number]
    invoices = visit.soup("/documents?kind=invoice")
    assert sorted(numbers_listed(invoices)) == sorted([shelf.invoice.number, shelf.older.number, shelf.paid.number])
    current = invoices.find("nav", attrs={"aria-label": "Kinds of documents"}).find("a", attrs={"aria-current": "page"})
    assert current.get_text(" ", strip=True) == "Invoices (3)"
    rows = {r["Number"]: r for r in table_rows(invoices, invoices.find("table", id="documents"))}
    assert rows[shelf.older.number]["Status"] == "overdue"
    assert rows[shelf.invoice.number]["Outstanding"] == "€111.00"  # 121.00 less the 10.00 credit note

    found = visit.soup(f"/documents?q={shelf.quote.number[:4].lower()}")  # a part ("q-20"), any case
    assert numbers_listed(found) == [shelf.quote.number]
    tabs = found.find("nav", attrs={"aria-label": "Kinds of documents"}).find_all("a")
    assert [a.get_text(" ", strip=True) for a in tabs] == ["All (1)", "Quotes (1)"]
    assert tabs[1]["href"] == visit.url(f"/documents?kind=quote&q={shelf.quote.number[:4].lower()}")
    nothing = visit.soup("/documents?q=%25_nothing%00")
    assert numbers_listed(nothing) == [] and "No document number contains" in nothing.get_text()


def test_many_documents_are_paged(app, visit, shelf):
    with app.app_context():
        rows = [{"customer_id": shelf.customer.id, "kind": "delivery_note", "number": f"DN-X-{n:04d}",
                 "issue_date": clock.today() - timedelta(days=n + 1), "currency": "EUR", "status": "issued",
                 "net_total": 0, "tax_total": 0, "gross_total": 0, "amount_paid": 0, "amount_credited": 0,
                 "amount_written_off": 0, "released_to_portal": True} for n in range(30)]
        factories.write_directly(insert(Document.__table__), rows)
        db.session.commit()
    first = visit.soup("/documents?kind=delivery_note")
    assert len(numbers_listed(first)) == 25
    next_link = first.find("a", string="Next page")["href"]
    assert next_link == visit.url("/documents?page=2&kind=delivery_note")
    assert len(numbers_listed(visit.soup("/documents?kind=delivery_note&page=2"))) == 6
    assert len(numbers_listed(visit.soup("/documents?kind=delivery_note&page=99999"))) == 6  # the last page


# --- questions on any document ---------------------------------------------------------------


def test_a_question_on_a_quote_is_answered_by_mail(app, visit, shelf, owner_client):
    page = visit.soup(f"/documents/{shelf.quote.id}")
    assert page.find("h2", id="questions-h").get_text(strip=True) == "Questions about this quote"
    empty = visit.post(f"/documents/{shelf.quote.id}/questions", {"body": "   "})
    assert empty.status_code == 422 and field_error(soup_of(empty), "Your question") == "Write your question."

    asked = visit.post(f"/documents/{shelf.quote.id}/questions", {"body": "Can you deliver in May?"})
    assert asked.status_code == 302
    assert asked.headers["Location"] == visit.url(f"/documents/{shelf.quote.id}#questions-h")
    assert state(app, shelf.quote).awaiting_answer_since is not None
    # Staff find it under the Attention filter and answer on the quote's page.
    listed = owner_client.soup("/admin/documents?attention=questions").get_text(" ")
    assert shelf.quote.number in listed
    assert "Can you deliver in May?" in owner_client.soup(f"/admin/documents/{shelf.quote.id}").get_text()
    assert owner_client.post(f"/admin/invoices/{shelf.quote.id}/answer", {"body": "Yes, in May."}).status_code == 302
    [mail] = outbox(app, "document_question_answered")
    assert mail.document_id == shelf.quote.id and mail.category.value == "account"
    from tests.questions.helpers import built_mail

    subject, text, _html = built_mail(app, mail.id)
    assert subject == f"Answer to your question about document {shelf.quote.number}"
    assert re.search(r"https://dossier\.example/d/[^/\s]+/documents/%d" % shelf.quote.id, text)
    thread = visit.soup(f"/documents/{shelf.quote.id}").find(id="questions-h").find_parent("section")
    assert [p.get_text(" ", strip=True) for p in thread.find_all("p", class_="body")] == [
        "Can you deliver in May?", "Yes, in May."]


# --- a quote: accept or reject -------------------------------------------------------------------


def decide(visit, quote, **data):
    return visit.post(f"/documents/{quote.id}/decision", data)


def test_accepting_a_quote_needs_a_name_and_tells_the_assigned_staff_member(app, visit, shelf):
    page = visit.soup(f"/documents/{shelf.quote.id}")
    form = page.find(id="decision-h").find_parent("section").find("form")
    assert [b.get_text(strip=True) for b in form.find_all("button")] == ["Accept the quote", "Reject the quote"]

    nameless = decide(visit, shelf.quote, decision="accept", name="  ", comment="Fine")
    assert nameless.status_code == 422
    assert field_error(soup_of(nameless), "Your name") == "Enter your name."
    assert state(app, shelf.quote).status == DocumentStatus.pending and outbox(app, *NOTICES) == []
    sneaky = decide(visit, shelf.quote, decision="maybe", name="Dora")
    assert sneaky.status_code == 422 and state(app, shelf.quote).status == DocumentStatus.pending

    accepted = decide(visit, shelf.quote, decision="accept", name=" Dora  Debtor ", comment="Please start in May.")
    assert accepted.status_code == 302
    quote = state(app, shelf.quote)
    assert (quote.status, quote.decided_by_name, quote.decision_comment) == (
        DocumentStatus.accepted, "Dora Debtor", "Please start in May.")
    [notice] = outbox(app, *NOTICES)
    assert (notice.template, notice.to_address) == ("document_quote_accepted", "sam@example.test")
    assert notice.context["decided_by"] == "Dora Debtor" and notice.context["comment"] == "Please start in May."
    page = soup_of(visit.client.get(accepted.headers["Location"], headers=ENGLISH))
    assert flashes(page) == ["Thank you: you accepted the quote. We will be in touch."]
    section = page.find(id="decision-h").find_parent("section")
    assert section.find("form") is None and "Accepted by Dora Debtor on" in section.get_text()
    # Decided once: a second decision is refused and changes nothing.
    again = decide(visit, shelf.quote, decision="reject", name="Dora")
    assert again.status_code == 422 and "This quote was already decided." in soup_of(again).get_text()
    assert state(app, shelf.quote).status == DocumentStatus.accepted and len(outbox(app, *NOTICES)) == 1


def test_rejecting_a_quote(app, visit, shelf):
    assert decide(visit, shelf.quote, decision="reject", name="Dora").status_code == 302
    quote = state(app, shelf.quote)
    assert (quote.status, quote.decision_comment) == (DocumentStatus.rejected, None)
    [notice] = outbox(app, *NOTICES)
    assert (notice.template, notice.to_address) == ("document_quote_rejected", "sam@example.test")
    assert "Rejected by Dora on" in visit.soup(f"/documents/{shelf.quote.id}").find(id="decision-h").parent.get_text()


def test_an_expired_quote_cannot_be_decided(app, visit, shelf):
    yesterday = clock_today(app) - timedelta(days=1)
    change(app, shelf.quote, valid_until=yesterday)
    section = visit.soup(f"/documents/{shelf.quote.id}").find(id="decision-h").find_parent("section")
    assert section.find("form") is None
    assert "This quote expired on" in section.get_text() and "can no longer be accepted" in section.get_text()
    refused = decide(visit, shelf.quote, decision="accept", name="Dora")
    assert refused.status_code == 422
    assert "This quote expired on" in soup_of(refused).find(id="decision-h").find_parent("section").get_text()
    assert state(app, shelf.quote).status == DocumentStatus.pending and outbox(app, *NOTICES) == []


def test_quote_decisions_switched_off(app, visit, shelf):
    set_settings(app, allow_quote_decisions=False)
    section = visit.soup(f"/documents/{shelf.quote.id}").find(id="decision-h").find_parent("section")
    assert section.find("form") is None and section.find("button") is None
    assert decide(visit, shelf.quote, decision="accept", name="Dora").status_code == 404
    assert state(app, shelf.quote).status == DocumentStatus.pending and outbox(app, *NOTICES) == []
    # Only a quote is decided.
    set_settings(app, allow_quote_decisions=True)
    assert decide(visit, shelf.invoice, decision="accept", name="Dora").status_code == 404


def clock_today(app) -> date:
    with app.app_context():
        return clock.today()


# --- paying one, the ticked ones, all --------------------------------------------------------------


def payments_of(app, customer) -> list[Payment]:
    with app.app_context():
        rows = list(db.session.scalars(select(Payment).where(Payment.customer_id == customer.id).order_by(Payment.id)))
        for row in rows:
            _ = row.items
            db.session.expunge(row)
        return rows


def test_pay_the_ticked_invoices(app, visit, shelf):
    third = factories.invoice(shelf.customer, amount="30.00", vat="0")
    overview = visit.soup()
    boxes = overview.find("table", id="open-invoices").find_all("input", attrs={"type": "checkbox"})
    assert sorted(int(b["value"]) for b in boxes) == sorted([shelf.invoice.id, shelf.older.id, third.id])
    assert {b["form"] for b in boxes} == {"pay-one"} and {b["name"] for b in boxes} == {"invoices"}
    assert overview.find("button", string="Pay the ticked invoices")["form"] == "pay-one"

    none = visit.post("/pay", {"invoice": "selected"})
    assert none.status_code == 422 and "Tick the invoices you want to pay." in soup_of(none).get_text()
    garbage = visit.post("/pay", {"invoice": "selected", "invoices": ["1x"]})
    assert garbage.status_code == 422

    started = visit.post("/pay", {"invoice": "selected", "invoices": [str(shelf.older.id), str(third.id)]})
    assert started.status_code == 303
    checkout = started.headers["Location"]
    assert checkout.startswith(visit.url("/pay/test/"))
    [payment] = payments_of(app, shelf.customer)
    assert payment.amount == Decimal("80.00")  # 50.00 + 30.00
    assert sorted(i.document_id for i in payment.items) == sorted([shelf.older.id, third.id])

    # The same boxes again: the payment already started, not a second one; a box more pays only that.
    assert visit.post("/pay", {"invoice": "selected", "invoices": [str(third.id), str(shelf.older.id)]}
                      ).headers["Location"] == checkout
    more = visit.post("/pay", {"invoice": "selected", "invoices": [str(shelf.older.id), str(shelf.invoice.id)]})
    assert more.status_code == 303
    second = payments_of(app, shelf.customer)[1]
    assert [(i.document_id, i.amount) for i in second.items] == [(shelf.invoice.id, Decimal("111.00"))]

    page = soup_of(visit.client.get(checkout, headers=ENGLISH))
    token = page.find("input", attrs={"name": "csrf_token"})["value"]
    done = visit.client.post(checkout, data={"csrf_token": token, "outcome": "success"})
    back = visit.client.get(done.headers["Location"], headers=ENGLISH)
    assert back.headers["Location"] == visit.url() + "#open-h"
    assert state(app, shelf.older).status == DocumentStatus.paid and state(app, third).status == DocumentStatus.paid
    assert state(app, shelf.invoice).outstanding == Decimal("111.00")  # not ticked: untouched
    after = visit.soup()
    assert flashes(after) == ["Payment received. Thank you!"]
    paid = after.find("h2", string="Paid invoices").find_parent("section").get_text()
    assert shelf.older.number in paid and third.number in paid


def test_ticked_invoices_in_two_currencies_are_refused(app, visit, shelf):
    dollars = factories.invoice(shelf.customer, amount="20.00", vat="0", currency="USD")
    refused = visit.post("/pay", {"invoice": "selected", "invoices": [str(shelf.invoice.id), str(dollars.id)]})
    assert refused.status_code == 422
    assert "more than one currency" in soup_of(refused).get_text()
    assert payments_of(app, shelf.customer) == []


def test_pay_one_and_all_from_both_ways(app, visit, shelf):
    overview = visit.soup()
    assert overview.find("button", string="Pay all open invoices (€161.00)") is not None
    one = visit.post("/pay", {"invoice": str(shelf.older.id)})
    assert one.status_code == 303
    everything = visit.post("/pay", {"invoice": "all"})
    assert everything.status_code == 303
    first, second = payments_of(app, shelf.customer)
    assert (first.amount, second.amount) == (Decimal("50.00"), Decimal("111.00"))  # never one amount twice
    page = visit.soup(f"/documents/{shelf.invoice.id}")
    assert page.find("button", string="Pay €111.00 now").find_parent("form")["action"] == visit.url("/pay")


# --- the account statement -----------------------------------------------------------------------


def test_the_statement_figures(app, visit, shelf):
    today = clock_today(app)
    with app.app_context():
        invoice = db.session.get(Document, shelf.invoice.id)
        recorded_payments.record_payment(db.session.get(StaffUser, shelf.staff.id), invoice, amount=Decimal("50.00"),
                                         received_on=today, method="bank_transfer", today=today)
        db.session.commit()
    page = visit.soup("/statement")
    [table] = page.find_all("table", class_="statement")
    rows = table_rows(page, table)
    by_what = {(r["Description"], r["Document"]): r for r in rows}
    assert by_what[("Invoice", shelf.invoice.number)]["Charged"] == "€121.00"
    assert by_what[("Invoice", shelf.older.number)]["Charged"] == "€50.00"
    assert by_what[("Invoice", shelf.paid.number)]["Charged"] == "€10.00"
    assert by_what[(f"Credit note for invoice {shelf.invoice.number}", shelf.credit.number)]["Paid or credited"] == "€10.00"
    assert by_what[("Payment by bank transfer", shelf.invoice.number)]["Paid or credited"] == "€50.00"
    assert rows[0]["Description"] == "Opening balance" and rows[0]["Balance"] == "€0.00"
    # 121 + 50 + 10 (its payment is not on the statement: a paid factory invoice) − 10 − 50
    closing = table.tfoot.find("tr").find_all("td")
    assert [td.get_text(strip=True) for td in closing] == ["€181.00", "€60.00", "€121.00"]
    assert "you owe us" in table.tfoot.get_text()
    # The documents the customer may open are linked, within the way in.
    assert table.find("a", string=shelf.credit.number)["href"] == visit.url(f"/documents/{shelf.credit.id}")

    bad = visit.get("/statement?date_from=yesterday&date_to=2020-13-01", expect=422)
    assert field_error(soup_of(bad), "From") == "Not a valid date value."
    backwards = visit.get(f"/statement?date_from={today.isoformat()}&date_to={(today - timedelta(days=3)).isoformat()}",
                          expect=422)
    assert field_error(soup_of(backwards), "Until") == "Choose a date after the start date."
    later = visit.soup(f"/statement?date_from={(today + timedelta(days=1)).isoformat()}")
    table = later.find("table", class_="statement")
    assert [r["Description"] for r in table_rows(later, table)] == ["Opening balance"]
    assert table_rows(later, table)[0]["Balance"] == "€121.00"


# --- bounded statements ---------------------------------------------------------------------------


def _statements(app, visit: Visit, path: str) -> int:
    visit.get(path)  # warm up: "viewed" is written at most once a minute
    with count_queries(app) as statements:
        visit.get(path)
    return len(statements)


# Statements per page, whatever the number of documents. The link: the link with its customer,
# the settings and a running plan's id in one; the login: the portal user, the open account, the
# settings. Then the page: the overview its invoices (the login also asks for a running plan);
# the documents the counts per kind and one page; the statement its entries, opening balance
# and which documents the customer may open; the instalments page also which instalments the
# money paid has reached (instalments.mark_reached); a document itself, its lines, the logo
# for the sheet (a deferred column) and its thread.
PINNED = {
    "link": {"": 2, "/documents": 3, "/documents?kind=invoice&q=0": 3, "/statement": 6, "/instalments": 5,
             "an invoice": 5, "a quote": 5},
    "login": {"": 5, "/documents": 5, "/documents?kind=invoice&q=0": 5, "/statement": 8, "/instalments": 7,
              "an invoice": 7, "a quote": 7},
}
PAGES = ("", "/documents", "/documents?kind=invoice&q=0", "/statement", "/instalments")


@pytest.mark.parametrize("way", WAYS)
def test_the_pages_cost_the_same_statements_with_many_documents(app, owner, way):
    set_settings(app, business_name="Counted")  # an installation has its settings row
    few = factories.customer(name="Fay Few", language="en")
    many = factories.customer(name="Manny Many", language="en")
    documents = {}
    for customer, count in ((few, 2), (many, 40)):
        made = [factories.invoice(customer, amount="10.00", vat="0") for _ in range(count)]
        made += [factories.document(customer, "quote") for _ in range(count)]
        documents[customer.id] = made
        with app.app_context():
            for document in made:
                db.session.add(DocumentMessage(document_id=document.id, customer_id=customer.id,
                                               author_kind="customer", body="Why?"))
            db.session.commit()
    counts = {}
    for customer in (few, many):
        visit = open_place(app, customer, way, email=f"{customer.name.split()[0].lower()}@example.com")
        assert len(numbers_listed(visit.soup("/documents"))) == min(25, 2 * len(documents[customer.id]) // 2)
        pages = {path: path for path in PAGES} | {"an invoice": f"/documents/{documents[customer.id][0].id}",
                                                  "a quote": f"/documents/{documents[customer.id][-1].id}"}
        counts[customer.name] = {name: _statements(app, visit, path) for name, path in pages.items()}
    assert counts["Fay Few"] == counts["Manny Many"] == PINNED[way]
