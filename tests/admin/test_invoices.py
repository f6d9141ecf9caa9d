"""Invoices: creating one with inline lines, exact totals, numbering, and the list's filters."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models.db import db
from models.documents import Document, DocumentLine, DocumentStatus
from tests import factories
from tests.conftest import field_error, input_value, soup_of
from models import clock


def invoice_data(lines, *, issue="2025-03-01", due="2025-03-15", currency="EUR", action="save") -> dict:
    data = {"issue_date": issue, "due_date": due, "currency": currency, "action": action}
    for i, (description, quantity, price, vat) in enumerate(lines):
        data.update({
            f"lines-{i}-description": description, f"lines-{i}-quantity": quantity,
            f"lines-{i}-unit_price": price, f"lines-{i}-vat_rate": vat,
        })
    return data


def line_rows(soup) -> list[dict[str, str]]:
    """The line inputs of the invoice form as a person sees them, row by row."""
    rows = []
    for row in soup.find_all("div", class_="line-row"):
        values = {}
        for label in row.find_all("label"):
            control = row.find(id=label["for"])
            values[label.get_text(strip=True)] = control.get("value")
        rows.append(values)
    return rows


def totals_of(soup) -> dict[str, str]:
    foot = soup.find("table").tfoot
    return {tr.th.get_text(strip=True): tr.td.get_text(strip=True) for tr in foot.find_all("tr")}


def numbers_listed(soup) -> list[str]:
    table = soup.find("table")
    if table is None:
        return []
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    assert headers[0] == "Number"
    return [tr.find("td").get_text(strip=True) for tr in table.tbody.find_all("tr")]


@pytest.fixture
def customer(app):
    return factories.customer(name="Ingrid Invoice", email="ingrid@example.test")


def _new(owner_client, customer, lines, **kwargs):
    return owner_client.post(f"/admin/customers/{customer.id}/invoices/new", data=invoice_data(lines, **kwargs))


def _created(app, response) -> Document:
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:800]
    invoice_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        document = db.session.get(Document, invoice_id)
        document.lines  # noqa: B018 - load before detaching
        db.session.expunge(document)
        return document


# ---------------------------------------------------------------- the form and exact totals


def test_new_invoice_form_starts_with_one_line_and_today(owner_client, customer):
    soup = owner_client.soup(f"/admin/customers/{customer.id}/invoices/new")
    assert soup.find("h1").get_text(strip=True) == "New invoice for Ingrid Invoice"
    assert input_value(soup, "Issue date") == clock.today().isoformat()
    assert input_value(soup, "Due date") == (clock.today() + timedelta(days=14)).isoformat()
    assert input_value(soup, "Currency") == "EUR"
    assert line_rows(soup) == [{"Description": "", "Quantity": "1", "Unit price": "", "VAT rate (%)": "21"}]
    assert soup.find("button", string="Remove line 1") is None


def test_create_invoice_with_exact_totals(app, owner_client, customer):
    response = _new(owner_client, customer, [
        ("Software licence", "3", "19.99", "21"),
        ("Travel costs", "1", "0.35", "9"),
    ])
    invoice = _created(app, response)
    # 3 × 19.99 = 59.97, 21 % of it = 12.5937 → 12.59; 0.35 × 9 % = 0.0315 → 0.03
    assert invoice.net_total == Decimal("60.32")
    assert invoice.tax_total == Decimal("12.62")
    assert invoice.gross_total == Decimal("72.94")
    assert invoice.amount_paid == Decimal("0.00")
    assert all(type(v) is Decimal for v in (invoice.net_total, invoice.tax_total, invoice.gross_total))
    assert [(l.position, l.description, l.quantity, l.unit_price, l.vat_rate, l.net_amount) for l in invoice.lines] == [
        (1, "Software licence", Decimal("3"), Decimal("19.99"), Decimal("21"), Decimal("59.97")),
        (2, "Travel costs", Decimal("1"), Decimal("0.35"), Decimal("9"), Decimal("0.35")),
    ]
    assert (invoice.status, invoice.issue_date, invoice.due_date, invoice.currency) == (
        DocumentStatus.open, date(2025, 3, 1), date(2025, 3, 15), "EUR",
    )

    soup = owner_client.soup(response.headers["Location"])
    assert soup.find("p", class_="alert-success").get_text(strip=True) == f"Invoice {invoice.number} was created."
    assert soup.find("h1").get_text(strip=True) == f"Invoice {invoice.number}"
    assert totals_of(soup) == {
        "Net": "€60.32", "VAT": "€12.62", "Total": "€72.94", "Paid": "€0.00", "Outstanding": "€72.94",
    }
    headers = [th.get_text(strip=True) for th in soup.find("table").thead.find_all("th")]
    rows = [dict(zip(headers, (td.get_text(strip=True) for td in tr.find_all("td")))) for tr in soup.find("table").tbody.find_all("tr")]
    assert rows == [
        {"Description": "Software licence", "Quantity": "3", "Unit price": "€19.99", "VAT rate": "21%", "Net": "€59.97"},
        {"Description": "Travel costs", "Quantity": "1", "Unit price": "€0.35", "VAT rate": "9%", "Net": "€0.35"},
    ]


def test_vat_is_rounded_per_rate_not_per_line(app, owner_client, customer):
    # Three lines of 0.10 at 21 %: per line 0.021 → 0.02 each (0.06); per rate 0.30 × 21 % = 0.063 → 0.06.
    # Three lines of 0.50 at 9 %: per line 0.045 → 0.05 each (0.15); per rate 1.50 × 9 % = 0.135 → 0.14.
    invoice = _created(app, _new(owner_client, customer, [
        ("a", "1", "0.10", "21"), ("b", "1", "0.10", "21"), ("c", "1", "0.10", "21"),
        ("d", "1", "0.50", "9"), ("e", "1", "0.50", "9"), ("f", "1", "0.50", "9"),
    ]))
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (Decimal("1.80"), Decimal("0.20"), Decimal("2.00"))


def test_fractional_quantity_and_credit_line(app, owner_client, customer):
    invoice = _created(app, _new(owner_client, customer, [
        ("Hours", "2.345", "80.00", "21"),  # 187.60
        ("Discount", "1", "-7.60", "21"),
    ], currency="USD"))
    assert [l.net_amount for l in invoice.lines] == [Decimal("187.60"), Decimal("-7.60")]
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (Decimal("180.00"), Decimal("37.80"), Decimal("217.80"))
    soup = owner_client.soup(f"/admin/invoices/{invoice.id}")
    assert totals_of(soup)["Total"] == "$217.80"


def test_too_many_decimals_are_refused_not_rounded(app, owner_client, customer):
    response = _new(owner_client, customer, [("Odd", "1.2345", "19.999", "21.005")])
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Quantity") == "Use at most three decimals."
    assert field_error(soup, "Unit price") == "Use at most two decimals."
    assert field_error(soup, "VAT rate (%)") == "Use at most two decimals."
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


def test_line_needs_a_description_and_a_price(app, owner_client, customer):
    response = _new(owner_client, customer, [("", "1", "", "21")])
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Description") == "Describe the line."
    assert field_error(soup, "Unit price") is not None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


def test_numbering_per_year_increments(app, owner_client, customer):
    numbers = [
        _created(app, _new(owner_client, customer, [("x", "1", "1.00", "21")], issue=issue, due=issue)).number
        for issue in ("2025-03-01", "2025-03-02", "2024-12-31", "2025-01-10")
    ]
    assert numbers == ["2025-00001", "2025-00002", "2024-00001", "2025-00003"]


def test_due_date_before_issue_date(app, owner_client, customer):
    response = _new(owner_client, customer, [("Work", "1", "10.00", "21")], issue="2025-03-10", due="2025-03-09")
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Due date") == "The due date cannot be before the issue date."
    assert field_error(soup, "Issue date") is None
    assert line_rows(soup) == [{"Description": "Work", "Quantity": "1", "Unit price": "10.00", "VAT rate (%)": "21"}]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0
    # the failed attempt used no number
    assert _created(app, _new(owner_client, customer, [("Work", "1", "10.00", "21")])).number == "2025-00001"


def test_missing_dates(owner_client, customer):
    response = _new(owner_client, customer, [("Work", "1", "10.00", "21")], issue="", due="tomorrow")
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Issue date") == "Enter a date."
    assert field_error(soup, "Due date") is not None


# ---------------------------------------------------------------- adding and removing lines


def test_add_line_keeps_what_was_typed(app, owner_client, customer):
    response = _new(owner_client, customer, [("Licence", "3", "19.99", "21")], issue="2025-04-01", due="2025-04-30", currency="GBP", action="add_line")
    assert response.status_code == 200
    soup = soup_of(response)
    assert soup.find("h1").get_text(strip=True) == "New invoice for Ingrid Invoice"  # the whole page, no JavaScript needed
    assert line_rows(soup) == [
        {"Description": "Licence", "Quantity": "3", "Unit price": "19.99", "VAT rate (%)": "21"},
        {"Description": "", "Quantity": "1", "Unit price": "", "VAT rate (%)": "21"},
    ]
    assert (input_value(soup, "Issue date"), input_value(soup, "Due date"), input_value(soup, "Currency")) == (
        "2025-04-01", "2025-04-30", "GBP",
    )
    assert soup.find_all("div", class_="line-row")[1].find("input", autofocus=True) is not None
    assert [b.get_text(strip=True) for b in soup.find_all("button", attrs={"value": lambda v: v and v.startswith("remove_line:")})] == [
        "Remove line 1", "Remove line 2",
    ]
    assert soup.find("p", class_="error") is None  # adding a line does not validate yet
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


def test_add_line_with_htmx_returns_only_the_lines(owner_client, customer):
    response = owner_client.post(
        f"/admin/customers/{customer.id}/invoices/new",
        data=invoice_data([("Licence", "3", "19.99", "21"), ("Support", "2", "72.50", "21")], action="add_line"),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    text = response.get_data(as_text=True)
    assert "<html" not in text and "<h1" not in text and "Issue date" not in text
    soup = soup_of(response)
    assert soup.find("legend").get_text(strip=True) == "Lines"
    assert [r["Description"] for r in line_rows(soup)] == ["Licence", "Support", ""]
    assert soup.find("button", attrs={"value": "add_line"}).get_text(strip=True) == "Add line"


def test_remove_line(owner_client, customer):
    data = invoice_data([("First", "1", "1.00", "21"), ("Second", "2", "2.00", "9"), ("Third", "3", "3.00", "0")], action="remove_line:1")
    response = owner_client.post(f"/admin/customers/{customer.id}/invoices/new", data=data)
    assert response.status_code == 200
    soup = soup_of(response)
    assert line_rows(soup) == [
        {"Description": "First", "Quantity": "1", "Unit price": "1.00", "VAT rate (%)": "21"},
        {"Description": "Third", "Quantity": "3", "Unit price": "3.00", "VAT rate (%)": "0"},
    ]
    assert input_value(soup, "Issue date") == "2025-03-01"
    # the re-rendered form names its lines 0 and 1 again, so saving it sends both
    names = [i["name"] for i in soup.find_all("input", attrs={"name": lambda n: n and n.endswith("-description")})]
    assert names == ["lines-0-description", "lines-1-description"]

    fragment = owner_client.post(
        f"/admin/customers/{customer.id}/invoices/new",
        data=invoice_data([("First", "1", "1.00", "21"), ("Second", "2", "2.00", "9")], action="remove_line:0"),
        headers={"HX-Request": "true"},
    )
    soup = soup_of(fragment)
    assert soup.find("html") is None
    assert [r["Description"] for r in line_rows(soup)] == ["Second"]
    assert soup.find("button", string=lambda s: s and s.startswith("Remove line")) is None  # the last line stays


def test_invoice_of_a_customer_the_employee_cannot_see(employee_client, customer):
    assert employee_client.get(f"/admin/customers/{customer.id}/invoices/new").status_code == 404
    invoice = factories.invoice(customer)
    assert employee_client.get(f"/admin/invoices/{invoice.id}").status_code == 404
    assert numbers_listed(employee_client.soup("/admin/invoices")) == []


# ---------------------------------------------------------------- the list and its filters


@pytest.fixture
def ledger(app):
    """One invoice of each kind; returns their numbers by name."""
    with_email = factories.customer(name="Mail Maria", email="maria@example.test")
    without_email = factories.customer(name="Paper Paul", email=None)
    today = clock.today()
    made = {
        "open": factories.invoice(with_email, issue_date=today - timedelta(days=2)),
        "overdue": factories.invoice(with_email, due_in_days=-5),
        "partial_overdue": factories.invoice(with_email, status=DocumentStatus.partially_paid, amount_paid="50.00", due_in_days=-1),
        "partial": factories.invoice(with_email, status=DocumentStatus.partially_paid, amount_paid="50.00"),
        "paid_late": factories.invoice(with_email, status=DocumentStatus.paid, amount_paid="121.00", due_in_days=-30),
        "cancelled": factories.invoice(with_email, status=DocumentStatus.cancelled, due_in_days=-30),
        "due_today": factories.invoice(with_email, due_in_days=0),
        "no_email_open": factories.invoice(without_email),
        "no_email_overdue": factories.invoice(without_email, due_in_days=-3),
        "no_email_paid": factories.invoice(without_email, status=DocumentStatus.paid, amount_paid="121.00"),
    }
    return {name: document.number for name, document in made.items()}


ALL_INVOICES = ["open", "overdue", "partial_overdue", "partial", "paid_late", "cancelled", "due_today", "no_email_open", "no_email_overdue", "no_email_paid"]
FILTERS = [
    ("", ALL_INVOICES),
    ("status=open", ["open", "overdue", "due_today", "no_email_open", "no_email_overdue"]),
    ("status=partially_paid", ["partial_overdue", "partial"]),
    ("status=paid", ["paid_late", "no_email_paid"]),
    ("status=cancelled", ["cancelled"]),
    ("status=overdue", ["overdue", "partial_overdue", "no_email_overdue"]),  # unpaid and due before today
    ("attention=no_email", ["no_email_open", "no_email_overdue"]),  # unpaid, customer without e-mail
    ("attention=no_email&status=overdue", ["no_email_overdue"]),
    ("status=bogus&attention=bogus", ALL_INVOICES),
]


def test_invoice_list_filters(owner_client, ledger):
    for query, expected in FILTERS:
        soup = owner_client.soup(f"/admin/invoices?{query}")
        assert sorted(numbers_listed(soup)) == sorted(ledger[name] for name in expected), query
        count = soup.find("p", class_="count").get_text(strip=True)
        assert count == f"{len(expected)} document" + ("s" if len(expected) != 1 else ""), query


def test_invoice_list_marks_the_current_filter_and_overdue_rows(owner_client, ledger):
    soup = owner_client.soup("/admin/invoices?status=overdue")
    assert soup.find("h1").get_text(strip=True) == "Documents"
    status_nav = soup.find("nav", attrs={"aria-label": "Status"})
    assert [a.get_text(strip=True) for a in status_nav.find_all("a")] == [
        "All", "Draft", "Open", "Partially paid", "Overdue", "Paid", "Cancelled", "Pending", "Accepted", "Rejected",
        "Expired", "Issued"]  # every kind's: no kind chosen
    assert status_nav.find("a", attrs={"aria-current": "page"}).get_text(strip=True) == "Overdue"
    table = soup.find("table")
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    rows = [dict(zip(headers, (td.get_text(" ", strip=True) for td in tr.find_all("td")))) for tr in table.tbody.find_all("tr")]
    assert {r["Status"] for r in rows} == {"open overdue", "partially paid overdue"}
    partial = next(r for r in rows if r["Number"] == ledger["partial_overdue"])
    assert (partial["Total"], partial["Outstanding"]) == ("€121.00", "€71.00")
    no_email = next(r for r in rows if r["Number"] == ledger["no_email_overdue"])
    assert no_email["Customer"] == "Paper Paul no e-mail address"

    attention = owner_client.soup("/admin/invoices?attention=no_email").find("nav", attrs={"aria-label": "Attention"})
    current = attention.find("a", attrs={"aria-current": "page"})
    assert current.get_text(" ", strip=True) == "No e-mail address known 2"  # with its count


def test_search_by_invoice_number(owner_client, customer):
    first = factories.invoice(customer, issue_date=date(2024, 5, 1))
    second = factories.invoice(customer, issue_date=date(2025, 5, 1))
    third = factories.invoice(customer, issue_date=date(2025, 6, 1))
    assert (first.number, second.number, third.number) == ("2024-00001", "2025-00001", "2025-00002")
    assert numbers_listed(owner_client.soup("/admin/invoices?q=2025-00002")) == ["2025-00002"]
    assert numbers_listed(owner_client.soup("/admin/invoices?q=2025-")) == ["2025-00002", "2025-00001"]  # newest first
    assert numbers_listed(owner_client.soup("/admin/invoices?q=00001")) == ["2025-00001", "2024-00001"]
    assert numbers_listed(owner_client.soup("/admin/invoices?q=%25")) == []
    soup = owner_client.soup("/admin/invoices?q=2024&status=open")
    assert numbers_listed(soup) == ["2024-00001"]
    assert soup.find("input", id="q")["value"] == "2024"
    assert soup.find("form", role="search").find("input", attrs={"name": "status"})["value"] == "open"


def test_invoice_list_pages_and_fragment(app, owner_client, customer):
    for day in range(1, 28):
        factories.invoice(customer, issue_date=date(2025, 1, day))
    soup = owner_client.soup("/admin/invoices")
    assert len(numbers_listed(soup)) == 25
    nav = soup.find("nav", attrs={"aria-label": "Pages"})
    assert nav.find("span").get_text(strip=True) == "Page 1 of 2"
    fragment = owner_client.get(nav.find("a", rel="next")["href"], headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert soup_of(fragment).find("html") is None
    assert numbers_listed(soup_of(fragment)) == ["2025-00002", "2025-00001"]


def test_lines_are_stored_in_order(app, owner_client, customer):
    invoice = _created(app, _new(owner_client, customer, [(f"Line {n}", "1", "1.00", "21") for n in range(1, 12)]))
    with app.app_context():
        descriptions = db.session.scalars(
            select(DocumentLine.description).where(DocumentLine.document_id == invoice.id).order_by(DocumentLine.position)
        ).all()
    assert descriptions == [f"Line {n}" for n in range(1, 12)]
    assert invoice.gross_total == Decimal("13.31")
