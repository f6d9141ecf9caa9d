"""Bad input never produces a 500 and never loses saved data.

Every form gets garbage: missing fields, 10,000-character strings, letters where numbers go,
unknown choices, NUL bytes, emoji. The answer is a 4xx (422 for form validation) with the
message next to the field (found by its visible label, as a screen reader announces it), what
was typed is still in the form, and nothing stored has changed. Hypothesis adds random values
for the customer and invoice forms.

Each table of cases runs inside one test (a login and a clean database cost more than the
requests) and reports every failing case at once.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from models.customers import CustomFieldDefinition, Customer, CustomFieldValue, Note
from models.db import db
from models.documents import Document
from models.settings import BusinessSettings
from models.staff import StaffUser
from tests import factories
from tests.conftest import StaffClient, csrf_token, field_error, input_value, login, soup_of
from models import clock

LONG = "x" * 10_000
EMOJI = "Zoë 🧾 Ünïcødé ✓ 日本語"
NUL = "Bad\x00byte"
NUL_MESSAGE = "This contains a character that cannot be saved."
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
NOT_A_NUMBER = ("abc", "1.234,5", "1,234", "12€", "NaN", "sNaN", "Infinity", "-inf", "1e", "--1", "\x00", "٣x")


# --- helpers ---------------------------------------------------------------------------------


def expect_all(cases, check) -> None:
    """Run `check(*case)` for every case; fail once, listing every case that failed."""
    failures = []
    for case in cases:
        try:
            check(*case)
        except AssertionError as error:
            shown = tuple(v[:40] + "…" if isinstance(v, str) and len(v) > 40 else v for v in case)
            failures.append(f"{shown!r}: {str(error).splitlines()[0] if str(error) else 'failed'}")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)


def posted(client, url, data, expect: int = 422, **kwargs):
    """POST and return the page; fails on any other status (and says so for a 500)."""
    response = client.post(url, data=data, **kwargs)
    assert response.status_code < 500, f"{url} answered {response.status_code}"
    assert response.status_code == expect, f"{url} answered {response.status_code}: {alerts(soup_of(response))}"
    return soup_of(response)


def alerts(soup) -> list[str]:
    return [node.get_text(" ", strip=True) for node in soup.find_all(role="alert")]


def _described_error(soup, control) -> str | None:
    for ref in (control.get("aria-describedby") or "").split():
        node = soup.find(id=ref)
        if node is not None and "error" in (node.get("class") or []):
            return node.get_text(" ", strip=True)
    return None


def group_error(soup, legend_text: str) -> str | None:
    """The error of a radio/checkbox group, found through its fieldset's legend."""
    legend = soup.find("legend", string=lambda s: s and s.strip() == legend_text)
    assert legend is not None, f"no group {legend_text!r}"
    return _described_error(soup, legend.parent)


def error_of(soup, control_id: str) -> str | None:
    """The error of a control by id: for labels that repeat, such as the invoice lines'."""
    control = soup.find(id=control_id)
    assert control is not None, f"no control {control_id!r}"
    return _described_error(soup, control)


def same_text(shown: str | None, typed: str) -> bool:
    """What the page shows is what was typed, as a browser reads it: a browser drops the
    newline right after <textarea> (WTForms writes one) and may show NUL as U+FFFD."""
    if shown is None:
        return False
    shown = shown.removeprefix("\r\n") if shown.startswith("\r\n") else shown.removeprefix("\n")
    return shown.replace("\ufffd", "\x00") == typed


def rows(app, model, *where) -> list[dict]:
    """The stored rows of `model` as plain dicts, to compare before and after a request."""
    with app.app_context():
        records = db.session.scalars(select(model).where(*where).order_by(model.id)).all()
        return [{c.key: getattr(r, c.key) for c in model.__mapper__.column_attrs} for r in records]


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def customer_data(**overrides) -> dict:
    return {"kind": "individual", "name": "Valid Name", "country": "NL", "language": "nl", **overrides}


def invoice_data(**overrides) -> dict:
    today = clock.today()
    data = {
        "action": "save", "issue_date": today.isoformat(), "due_date": (today + timedelta(days=14)).isoformat(),
        "currency": "EUR", "lines-0-description": "Consulting", "lines-0-quantity": "2",
        "lines-0-unit_price": "50.00", "lines-0-vat_rate": "21",
    }
    data.update(overrides)
    return data


@pytest.fixture
def customer(owner):
    return factories.customer(
        name="Stored Name", number="K-100", email="stored@example.com", iban="NL91ABNA0417164300",
        bic="ABNANL2A", city="Utrecht",
    )


@pytest.fixture
def custom_fields(app):
    with app.app_context():
        fields = [
            CustomFieldDefinition(label="Contract value", kind="number", position=1),
            CustomFieldDefinition(label="Renewal date", kind="date", position=2),
            CustomFieldDefinition(label="Account manager note", kind="text", position=3),
        ]
        db.session.add_all(fields)
        db.session.commit()
        return {f.label: f"cf_{f.id}" for f in fields}


# --- customer create ---------------------------------------------------------------------------


def test_customer_form_with_nothing_filled_in(app, owner_client):
    soup = posted(owner_client, "/admin/customers/new", {})
    assert field_error(soup, "Name") == "Enter a name."
    assert group_error(soup, "Kind") == "This field is required."
    assert "Please correct the marked fields." in alerts(soup)
    assert count(app, Customer) == 0


TEXT_FIELDS = [  # label, form field, max length
    ("Name", "name", 200), ("Company name", "company_name", 200), ("Customer number", "number", 30),
    ("Primary e-mail address", "email", 254), ("Phone", "phone", 40), ("Street and number", "street", 200),
    ("Postal code", "postal_code", 20), ("City", "city", 100), ("VAT ID", "vat_id", 30),
    ("Tax number", "tax_number", 30), ("IBAN", "iban", 42), ("BIC", "bic", 11),
    ("Account holder", "bank_holder", 200), ("Tags", "tags", 500),
]


def test_customer_form_refuses_10000_characters_in_every_text_field(app, owner_client):
    soup = posted(owner_client, "/admin/customers/new", customer_data(**{name: LONG for _, name, _ in TEXT_FIELDS}))

    def check(label, _name, limit):
        assert f"Field cannot be longer than {limit} characters." in (field_error(soup, label) or ""), field_error(soup, label)
        assert input_value(soup, label) == LONG, "typed value lost"

    expect_all(TEXT_FIELDS, check)
    assert count(app, Customer) == 0


def test_customer_form_shows_the_message_next_to_the_field(app, owner_client):
    def check(label, name, value, message):
        soup = posted(owner_client, "/admin/customers/new", customer_data(**{name: value}))
        assert message in (field_error(soup, label) or ""), f"next to {label}: {field_error(soup, label)!r}"
        if value.strip():
            assert same_text(input_value(soup, label), value), "typed value lost"
        if name != "name":
            assert input_value(soup, "Name") == "Valid Name", "the other fields' values were lost"

    expect_all([
        ("Primary e-mail address", "email", "not-an-email", "Enter a valid e-mail address."),
        ("Primary e-mail address", "email", "a@b@example.com", "Enter a valid e-mail address."),
        ("Primary e-mail address", "email", "zoë@", "Enter a valid e-mail address."),
        ("IBAN", "iban", "NL00BANK0123456789", "This is not a valid IBAN."),
        ("IBAN", "iban", "NL91 ABNA 0417 1643 01", "This is not a valid IBAN."),
        ("IBAN", "iban", "🧾", "This is not a valid IBAN."),
        ("BIC", "bic", "ABNANL", "This is not a valid BIC."),
        ("BIC", "bic", "12345678", "This is not a valid BIC."),
        ("Phone", "phone", "call me maybe", "Use digits, spaces and + ( ) - only."),
        ("Customer number", "number", "-leading dash", "Use letters, digits, dots, dashes or slashes."),
        ("Customer number", "number", "K\x00100", "Use letters, digits, dots, dashes or slashes."),
        ("Customer number", "number", "Nº 5", "Use letters, digits, dots, dashes or slashes."),
        ("Tags", "tags", ",".join(f"t{i}" for i in range(11)), "Use at most 10 tags."),
        ("Tags", "tags", "ok, " + "t" * 41, "A tag has at most 40 characters."),
        ("Tags", "tags", "İ" * 40, "A tag has at most 40 characters."),  # 80 characters once lower-cased
        ("Name", "name", "", "Enter a name."),
        ("Name", "name", "   ", "Enter a name."),
        ("Name", "name", NUL, NUL_MESSAGE),
        ("City", "city", NUL, NUL_MESSAGE),
        ("Account holder", "bank_holder", "\x00", NUL_MESSAGE),
    ], check)
    assert count(app, Customer) == 0


def test_customer_form_refuses_unknown_choices(app, owner_client):
    def check_group(legend, name, value):
        soup = posted(owner_client, "/admin/customers/new", customer_data(**{name: value}))
        assert group_error(soup, legend), f"no message for the group {legend}"

    expect_all([
        ("Kind", "kind", "alien"), ("Kind", "kind", ""), ("Kind", "kind", "\x00"), ("Kind", "kind", "INDIVIDUAL"),
        ("Assigned staff", "assigned_staff_ids", "abc"), ("Assigned staff", "assigned_staff_ids", "99999"),
        ("Assigned staff", "assigned_staff_ids", "-1"), ("Assigned staff", "assigned_staff_ids", "9" * 30),
    ], check_group)

    def check_select(label, name, value):
        soup = posted(owner_client, "/admin/customers/new", customer_data(**{name: value}))
        assert field_error(soup, label) == "Not a valid choice.", field_error(soup, label)

    expect_all([
        ("Country", "country", "XX"), ("Country", "country", "nl"), ("Country", "country", LONG),
        ("Language", "language", "xx"), ("Language", "language", "🇳🇱"), ("Language", "language", "\x00"),
    ], check_select)
    assert count(app, Customer) == 0


def test_duplicate_customer_number_is_refused_whatever_its_case(app, owner_client, customer):
    for number in ("K-100", "k-100"):
        soup = posted(owner_client, "/admin/customers/new", customer_data(name="Copycat", number=number))
        assert field_error(soup, "Customer number") == "This customer number is already in use."
        assert input_value(soup, "Customer number") == number
        assert input_value(soup, "Name") == "Copycat"
    assert count(app, Customer) == 1


def test_company_without_company_name_is_refused(app, owner_client):
    soup = posted(owner_client, "/admin/customers/new", customer_data(kind="company", company_name="  "))
    assert field_error(soup, "Company name") == "A company needs a company name."
    assert soup.find("input", attrs={"name": "kind", "value": "company"}).has_attr("checked")
    assert count(app, Customer) == 0


def test_unicode_and_emoji_are_saved_and_shown_as_typed(app, owner_client):
    response = owner_client.post("/admin/customers/new", data=customer_data(
        name=EMOJI, city="Zürich", street="Straße 1 🏠", tags="vip ⭐, ÉTÉ",
        email="zoë@exämple.com", bank_holder="Zoë Ünïcødé",
    ))
    assert response.status_code == 302, alerts(soup_of(response))
    info = owner_client.soup(response.headers["Location"])
    assert info.h1.get_text(strip=True) == EMOJI
    details = info.find("dl").get_text(" ", strip=True)
    for shown in ("Zürich", "Straße 1 🏠", "vip ⭐", "été", "zoë@exämple.com", "Zoë Ünïcødé"):
        assert shown in details, shown


def test_custom_fields_refuse_values_of_the_wrong_type(app, owner_client, custom_fields):
    def check(label, value, message):
        soup = posted(owner_client, "/admin/customers/new", customer_data(**{custom_fields[label]: value}))
        assert message in (field_error(soup, label) or ""), field_error(soup, label)
        assert same_text(input_value(soup, label), value), "typed value lost"

    expect_all(
        [("Contract value", v, "") for v in NOT_A_NUMBER + ("1e13", "-1e13", "1e999999")]
        + [("Renewal date", v, "Not a valid date value.")
           for v in ("2024-02-30", "31.12.2024", "tomorrow", "10000-01-01", "2024-1-1x", "\x00", LONG)]
        + [("Account manager note", LONG, "Field cannot be longer than 500 characters."),
           ("Account manager note", NUL, NUL_MESSAGE)],
        check,
    )
    assert count(app, Customer) == 0


def test_custom_number_field_names_the_problem(owner_client, custom_fields):
    def message(value):
        soup = posted(owner_client, "/admin/customers/new", customer_data(**{custom_fields["Contract value"]: value}))
        return field_error(soup, "Contract value")

    assert message("abc").startswith("Not a valid decimal value.")
    assert message("NaN") == "Enter a number."
    assert message("-Infinity") == "Enter a number."
    assert message("1e13") == "Number must be between -1E+12 and 1E+12."


# --- customer edit: invalid data leaves the stored customer as it was -------------------------------


def _stored_customer(app, customer_id: int) -> dict:
    with app.app_context():
        record = db.session.get(Customer, customer_id)
        values = rows(app, CustomFieldValue, CustomFieldValue.customer_id == customer_id)
        return {
            "columns": {c.key: getattr(record, c.key) for c in Customer.__mapper__.column_attrs},
            "tags": [t.name for t in record.tags],
            "staff": [s.id for s in record.assigned_staff],
            "custom": [(v["field_id"], v["value"]) for v in values],
        }


def test_invalid_edit_leaves_the_stored_customer_unchanged(app, owner_client, customer, custom_fields):
    factories.customer(number="K-200", name="Other")
    url = f"/admin/customers/{customer.id}/edit"
    stored = customer_data(
        name="Stored Name", number="K-100", email="stored@example.com", iban="NL91ABNA0417164300", bic="ABNANL2A",
        city="Utrecht", tags="gold", **{custom_fields["Contract value"]: "1500.50",
                                        custom_fields["Renewal date"]: "2030-01-31"},
    )
    ok = owner_client.post(url, data=stored)
    assert ok.status_code == 302, alerts(soup_of(ok))
    before = _stored_customer(app, customer.id)
    page = owner_client.soup(url)
    assert input_value(page, "Contract value") == "1500.50"

    def check(label, name, value):
        form = {**stored, "name": "Changed Name too", name: value}
        soup = posted(owner_client, url, form)
        assert field_error(soup, label), f"no message next to {label}: {alerts(soup)}"
        if name != "name":
            assert input_value(soup, "Name") == "Changed Name too", "the other typed values were lost"
        if name not in ("kind", "country") and value:
            assert same_text(input_value(soup, label), value), "typed value lost"
        assert _stored_customer(app, customer.id) == before, "the stored customer changed"

    expect_all([
        ("IBAN", "iban", "NL00BANK0123456789"),
        ("BIC", "bic", "NOTABIC!"),
        ("Primary e-mail address", "email", "stored-at-example"),
        ("Customer number", "number", "K-200"),  # another customer's
        ("Customer number", "number", "k-200"),
        ("Name", "name", LONG),
        ("Name", "name", ""),
        ("Phone", "phone", "☎ 123"),
        ("Country", "country", "ZZ"),
        ("City", "city", NUL),
        ("Company name", "kind", "company"),  # a company without a company name
        ("Contract value", custom_fields["Contract value"], "NaN"),
        ("Contract value", custom_fields["Contract value"], "12,50"),
        ("Renewal date", custom_fields["Renewal date"], "2024-13-01"),
    ], check)
    info = owner_client.soup(f"/admin/customers/{customer.id}/info")
    assert info.h1.get_text(strip=True) == "Stored Name"


def test_edit_with_an_empty_number_keeps_the_stored_number(app, owner_client, customer):
    response = owner_client.post(f"/admin/customers/{customer.id}/edit", data=customer_data(name="Renamed", number=""))
    assert response.status_code == 302, alerts(soup_of(response))
    stored = _stored_customer(app, customer.id)["columns"]
    assert (stored["name"], stored["number"]) == ("Renamed", "K-100")


def test_huge_ids_in_urls_answer_404(owner_client):
    def check(path, get_status=404):
        assert owner_client.get(path).status_code == get_status, "GET"
        assert owner_client.post(path, data={}).status_code in (404, 405), "POST"

    expect_all([(p,) for p in (
        "/admin/customers/99999999999999999999", "/admin/customers/9223372036854775808/edit",
        "/admin/customers/9223372036854775807/notes", "/admin/customers/2147483648", "/admin/customers/2147483647",
        "/admin/customers/0/info", "/admin/invoices/99999999999999999999", "/admin/invoices/2147483648",
        "/admin/customers/99999999999999999999/invoices/new", "/admin/staff/99999999999999999999",
        "/admin/customers/-1", "/admin/customers/1e3",
    )] + [("/admin/settings/fields/99999999999999999999/delete", 405)], check)


def test_search_and_list_filters_survive_garbage(owner_client, customer):
    factories.invoice(customer)

    def check(path, query):
        response = owner_client.get(f"{path}?{query}")
        assert response.status_code == 200, response.status_code
        assert soup_of(response).find("p", class_="count") is not None

    expect_all([(path, query) for path in ("/admin/customers", "/admin/invoices") for query in (
        "q=%00", "q=" + "x" * 5000, "q=%25_%5C", "q=%F0%9F%A7%BE", "page=abc", "page=-1", "page=99999999999999999999",
        "tag=%00", "tag=" + "y" * 5000, "archived=%00", "status=%00", "status=paid%00", "attention=%00", "q=%FF%FE",
    )], check)


# --- notes ------------------------------------------------------------------------------------------


def test_note_form_refuses_bad_bodies(app, owner_client, customer):
    def check(body, message):
        soup = posted(owner_client, f"/admin/customers/{customer.id}/notes", {"body": body})
        assert field_error(soup, "Note") == message, field_error(soup, "Note")
        if body.strip():
            assert same_text(input_value(soup, "Note"), body), "typed value lost"

    expect_all([
        ("", "Write something before saving the note."),
        ("  \n\t ", "Write something before saving the note."),
        (LONG, "Field cannot be longer than 5000 characters."),
        (NUL, NUL_MESSAGE),
    ], check)
    assert count(app, Note) == 0


def test_note_with_emoji_is_kept_as_typed(app, owner_client, customer):
    response = owner_client.post(f"/admin/customers/{customer.id}/notes", data={"body": EMOJI})
    assert response.status_code == 302
    notes = owner_client.soup(f"/admin/customers/{customer.id}/notes")
    assert [p.get_text() for p in notes.select("article.note p")] == [EMOJI]


# --- invoice create -------------------------------------------------------------------------------


def test_invoice_form_with_nothing_filled_in(app, owner_client, customer):
    soup = posted(owner_client, f"/admin/customers/{customer.id}/invoices/new", {"action": "save"})
    assert field_error(soup, "Issue date") == "Enter a date."
    assert field_error(soup, "Due date") == "Enter a date."
    assert field_error(soup, "Currency") == "Not a valid choice."
    assert field_error(soup, "Description") == "Describe the line."
    assert "This field is required." in field_error(soup, "Quantity")
    assert count(app, Document) == 0


def test_invoice_form_shows_the_message_next_to_the_field(app, owner_client, customer):
    def check(label, name, value, message):
        soup = posted(owner_client, f"/admin/customers/{customer.id}/invoices/new", invoice_data(**{name: value}))
        assert message in (field_error(soup, label) or ""), f"next to {label}: {field_error(soup, label)!r}"
        if label != "Currency" and value.strip():
            assert same_text(input_value(soup, label), value), "typed value lost"
        if name != "lines-0-description":
            assert input_value(soup, "Description") == "Consulting", "the other typed values were lost"

    expect_all([
        ("Issue date", "issue_date", "yesterday", "Not a valid date value."),
        ("Issue date", "issue_date", "2024-02-30", "Not a valid date value."),
        ("Due date", "due_date", "31-12-2024", "Not a valid date value."),
        ("Due date", "due_date", "\x00", "Not a valid date value."),
        ("Due date", "due_date", "2000-01-01", "The due date cannot be before the issue date."),
        ("Currency", "currency", "XXX", "Not a valid choice."),
        ("Currency", "currency", "eur", "Not a valid choice."),
        ("Currency", "currency", LONG, "Not a valid choice."),
        ("Description", "lines-0-description", LONG, "Field cannot be longer than 300 characters."),
        ("Description", "lines-0-description", "   ", "Describe the line."),
        ("Description", "lines-0-description", NUL, NUL_MESSAGE),
        ("Quantity", "lines-0-quantity", "0", "Number must be between 0.001 and 1000000."),
        ("Quantity", "lines-0-quantity", "-5", "Number must be between 0.001 and 1000000."),
        ("Quantity", "lines-0-quantity", "1e7", "Number must be between 0.001 and 1000000."),
        ("Quantity", "lines-0-quantity", "1.0001", "Use at most three decimals."),
        ("Unit price", "lines-0-unit_price", "1e10", "Number must be between -1000000000 and 1000000000."),
        ("Unit price", "lines-0-unit_price", "-99999999999", "Number must be between -1000000000 and 1000000000."),
        ("Unit price", "lines-0-unit_price", "0.001", "Use at most two decimals."),
        ("Unit price", "lines-0-unit_price", "", "This field is required."),
        ("VAT rate (%)", "lines-0-vat_rate", "101", "Number must be between 0 and 100."),
        ("VAT rate (%)", "lines-0-vat_rate", "-1", "Number must be between 0 and 100."),
        ("VAT rate (%)", "lines-0-vat_rate", "NaN", "Enter a number."),
    ], check)
    assert count(app, Document) == 0


def test_invoice_amounts_refuse_what_is_not_a_number(app, owner_client, customer):
    def check(name, value):
        soup = posted(owner_client, f"/admin/customers/{customer.id}/invoices/new", invoice_data(**{name: value}))
        assert error_of(soup, name), f"no message: {alerts(soup)}"
        assert same_text(soup.find(id=name).get("value"), value), "typed value lost"

    expect_all([(name, value) for name in ("lines-0-quantity", "lines-0-unit_price", "lines-0-vat_rate")
                for value in NOT_A_NUMBER], check)
    assert count(app, Document) == 0


def test_invoice_error_on_a_later_line_is_shown_on_that_line(app, owner_client, customer):
    soup = posted(owner_client, f"/admin/customers/{customer.id}/invoices/new", invoice_data(**{
        "lines-1-description": "Second", "lines-1-quantity": "two", "lines-1-unit_price": "10", "lines-1-vat_rate": "9",
    }))
    assert error_of(soup, "lines-0-quantity") is None
    assert error_of(soup, "lines-1-quantity") == "Enter a number such as 1250.50 or 1250,50, without thousands separators."
    assert soup.find(id="lines-1-description")["value"] == "Second"
    assert soup.find(id="lines-1-quantity")["value"] == "two"
    assert count(app, Document) == 0


def test_invoice_total_too_large_to_store_is_refused(app, owner_client, customer):
    lines = {}
    for i in range(60):  # each line is allowed; together they exceed what an amount column holds
        lines.update({f"lines-{i}-description": f"Huge {i}", f"lines-{i}-quantity": "1000000",
                      f"lines-{i}-unit_price": "1000000000", f"lines-{i}-vat_rate": "100"})
    soup = posted(owner_client, f"/admin/customers/{customer.id}/invoices/new", invoice_data(**lines))
    assert "The invoice total is too large." in alerts(soup)
    assert soup.find(id="lines-59-description")["value"] == "Huge 59"
    assert count(app, Document) == 0
    # One such line alone is stored exactly.
    response = owner_client.post(f"/admin/customers/{customer.id}/invoices/new", data=invoice_data(**{
        "lines-0-quantity": "1000000", "lines-0-unit_price": "1000000000", "lines-0-vat_rate": "100"}))
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Document.gross_total)) == 2 * 10**15


def test_invoice_line_actions_and_odd_field_names_never_fail(app, owner_client, customer):
    url = f"/admin/customers/{customer.id}/invoices/new"

    def check(data):
        response = owner_client.post(url, data=data)
        assert response.status_code in (200, 302, 422), response.status_code

    expect_all(
        [(invoice_data(action=action, **{"lines-0-quantity": "NaN"}),) for action in (
            "remove_line:abc", "remove_line:-1", "remove_line:99999999999999999999", "add_line\x00", "explode", LONG, "")]
        + [(invoice_data(**{name: "odd"}),) for name in (
            "lines-²-description", "lines-٣-description", "lines-99999999999999999999-description",
            "lines--1-quantity", "lines-x-vat_rate", "lines-0-quantity-extra")],
        check,
    )


# --- settings (incl. logo) --------------------------------------------------------------------------


def _save_settings_once(app, owner_client) -> list[dict]:
    response = owner_client.post("/admin/settings", data={
        "business_name": "Stored Business", "default_currency": "EUR", "sender_email": "billing@example.com",
        "logo": (io.BytesIO(PNG), "logo.png", "image/png"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302
    return rows(app, BusinessSettings)


def test_settings_form_shows_the_message_next_to_the_field(app, owner_client):
    before = _save_settings_once(app, owner_client)

    def check(label, name, value, message):
        data = {"business_name": "Typed Business", "default_currency": "EUR", "sender_name": "Typed Sender", name: value}
        soup = posted(owner_client, "/admin/settings", data)
        assert message in (field_error(soup, label) or ""), f"next to {label}: {field_error(soup, label)!r}"
        if label != "Default currency" and value:
            assert same_text(input_value(soup, label), value), "typed value lost"
        if name != "sender_name":
            assert input_value(soup, "Sender name") == "Typed Sender", "the other typed values were lost"
        assert rows(app, BusinessSettings) == before, "the stored settings changed"

    expect_all([
        ("Business name", "business_name", "", "This field is required."),
        ("Business name", "business_name", LONG, "Field cannot be longer than 200 characters."),
        ("Business name", "business_name", NUL, NUL_MESSAGE),
        ("Sender name", "sender_name", LONG, "Field cannot be longer than 200 characters."),
        ("Sender e-mail address", "sender_email", "billing at example", "Enter a valid e-mail address."),
        ("Sender e-mail address", "sender_email", LONG + "@example.com", "Field cannot be longer than 254 characters."),
        ("Address", "address", LONG, "Field cannot be longer than 1000 characters."),
        ("Address", "address", "Street 1\n\x00", NUL_MESSAGE),
        ("Default currency", "default_currency", "BTC", "Not a valid choice."),
        ("Default currency", "default_currency", "", "Not a valid choice."),
    ], check)


def test_settings_refuses_a_bad_logo_and_keeps_the_stored_one(app, owner_client):
    before = _save_settings_once(app, owner_client)

    def check(body, filename, content_type, message):
        soup = posted(owner_client, "/admin/settings", {
            "business_name": "Typed Business", "default_currency": "USD",
            "logo": (io.BytesIO(body), filename, content_type),
        }, content_type="multipart/form-data")
        assert field_error(soup, "Logo") == message, field_error(soup, "Logo")
        assert input_value(soup, "Business name") == "Typed Business", "typed value lost"
        assert rows(app, BusinessSettings) == before, "the stored settings changed"

    bad_type = "Upload the logo as PNG, JPEG, WebP or GIF."
    expect_all([
        (b"%PDF-1.7 not an image", "logo.png", "image/png", bad_type),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.svg", "image/svg+xml", bad_type),
        (b"MZ\x90\x00" + b"\x00" * 100, "logo.gif", "image/gif", bad_type),
        (b"RIFF\x00\x00\x00\x00WAVE", "logo.webp", "image/webp", bad_type),
        (PNG + b"\x00" * (600 * 1024), "big.png", "image/png", "The logo may be at most 512 KB."),
    ], check)
    assert owner_client.get("/branding/logo").data == PNG


def test_settings_refuses_an_upload_over_the_request_limit(app, owner_client):
    before = _save_settings_once(app, owner_client)
    response = owner_client.post("/admin/settings", data={
        "business_name": "Typed Business", "default_currency": "EUR",
        "logo": (io.BytesIO(PNG + b"\x00" * (5 * 1024 * 1024)), "huge.png", "image/png"),
    }, content_type="multipart/form-data")
    assert response.status_code == 413
    assert soup_of(response).h1.get_text(strip=True) == "The upload is too large."
    assert rows(app, BusinessSettings) == before


# --- custom field definitions -----------------------------------------------------------------------


def test_custom_field_form_refuses_bad_definitions(app, owner_client):
    assert owner_client.post("/admin/settings/fields", data={"label": "Existing", "kind": "text"}).status_code == 302

    def check(label_value, kind, error_label, message):
        soup = posted(owner_client, "/admin/settings/fields", {"label": label_value, "kind": kind})
        assert field_error(soup, error_label) == message, field_error(soup, error_label)
        if label_value.strip():
            assert same_text(input_value(soup, "Label"), label_value), "typed value lost"

    expect_all([
        ("", "text", "Label", "This field is required."),
        ("   ", "text", "Label", "This field is required."),
        (LONG, "text", "Label", "Field cannot be longer than 60 characters."),
        (NUL, "text", "Label", NUL_MESSAGE),
        ("Contract value", "alien", "Type", "Not a valid choice."),
        ("Contract value", "", "Type", "Not a valid choice."),
        ("EXISTING", "text", "Label", "A field with this label exists already."),
        (" existing ", "number", "Label", "A field with this label exists already."),
    ], check)
    assert [d["label"] for d in rows(app, CustomFieldDefinition)] == ["Existing"]


def test_custom_field_delete_of_an_unknown_field_is_404(owner_client):
    assert owner_client.post("/admin/settings/fields/424242/delete").status_code == 404


# --- staff ------------------------------------------------------------------------------------------

STAFF_OK = {"name": "New Person", "email": "new.person@example.com", "role": "employee", "language": "en",
            "password": "a long enough password"}


def test_staff_create_form_shows_the_message_next_to_the_field(app, owner_client):
    factories.staff(email="taken@example.com")
    before = rows(app, StaffUser)

    def check(label, name, value, message):
        soup = posted(owner_client, "/admin/staff/new", {**STAFF_OK, name: value})
        assert message in (field_error(soup, label) or ""), f"next to {label}: {field_error(soup, label)!r}"
        if name in ("name", "email") and value:
            assert same_text(input_value(soup, label), value), "typed value lost"
        if name != "name":
            assert input_value(soup, "Name") == "New Person", "the other typed values were lost"
        assert input_value(soup, "Initial password") in (None, ""), "a password was sent back"
        assert rows(app, StaffUser) == before, "staff changed"

    expect_all([
        ("Name", "name", "", "This field is required."),
        ("Name", "name", LONG, "Field cannot be longer than 120 characters."),
        ("Name", "name", NUL, NUL_MESSAGE),
        ("E-mail address", "email", "", "This field is required."),
        ("E-mail address", "email", "new.person", "Enter a valid e-mail address."),
        ("E-mail address", "email", "new\x00@example.com", NUL_MESSAGE),
        ("E-mail address", "email", "TAKEN@example.com", "A staff member with this e-mail address exists already."),
        ("Role", "role", "superuser", "Not a valid choice."),
        ("Language", "language", "klingon", "Not a valid choice."),
        ("Initial password", "password", "", "This field is required."),
        ("Initial password", "password", "short", "Use at least 12 characters."),
        ("Initial password", "password", LONG, "Field cannot be longer than 1024 characters."),
    ], check)


def test_admin_cannot_create_an_owner(app):
    admin = factories.staff(role="admin")
    client = StaffClient(login(app.test_client(), admin), admin)
    soup = posted(client, "/admin/staff/new", {**STAFF_OK, "role": "owner"})
    assert field_error(soup, "Role") == "Only an owner can add another owner."
    assert count(app, StaffUser) == 1


def test_staff_edit_form_leaves_the_member_unchanged(app, owner_client, owner, employee):
    before = rows(app, StaffUser)

    def check(user_id, label, name, value, message):
        data = {"name": "Edited Name", "role": "admin", "view_all_customers": "y", "active": "y", name: value}
        soup = posted(owner_client, f"/admin/staff/{user_id}", data)
        # "Active" is a checkbox inside its label: its error is found by the input's id.
        shown = error_of(soup, "active") if label == "Active" else field_error(soup, label)
        assert message in (shown or ""), f"next to {label}: {shown!r}"
        if name == "name" and value:
            assert same_text(input_value(soup, "Name"), value), "typed value lost"
        if name != "name":
            assert input_value(soup, "Name") == "Edited Name", "the other typed values were lost"
        assert rows(app, StaffUser) == before, "staff changed"

    expect_all([
        (employee.id, "Name", "name", "", "This field is required."),
        (employee.id, "Name", "name", LONG, "Field cannot be longer than 120 characters."),
        (employee.id, "Name", "name", EMOJI + NUL, NUL_MESSAGE),
        (employee.id, "Role", "role", "god", "Not a valid choice."),
        (employee.id, "Role", "role", "", "Not a valid choice."),
        (owner.id, "Role", "role", "employee", "You cannot change your own role"),
        (owner.id, "Active", "active", "", "You cannot deactivate yourself"),
    ], check)


# --- account: language and password -----------------------------------------------------------------


def test_account_language_refuses_unknown_languages(app, owner_client):
    before = rows(app, StaffUser)

    def check(value):
        soup = posted(owner_client, "/admin/account", {"lang-language": value, "lang-submit": "Save language"})
        assert field_error(soup, "Language") == "Not a valid choice.", field_error(soup, "Language")
        assert rows(app, StaffUser) == before, "the language changed"

    expect_all([(v,) for v in ("xx", "", "\x00", LONG, "EN", "nl\x00")], check)
    assert owner_client.soup("/admin/customers").find("html")["lang"] == "en"


def test_password_change_refuses_bad_input_and_keeps_the_password(app, owner_client):
    before = rows(app, StaffUser)
    good, other = factories.PASSWORD, "another long password"

    def check(current, new, confirm, label, message):
        soup = posted(owner_client, "/admin/account", {
            "pw-current_password": current, "pw-new_password": new, "pw-confirm_password": confirm,
            "pw-submit": "Change password",
        })
        assert field_error(soup, label) == message, f"next to {label}: {field_error(soup, label)!r}"
        for field in ("Current password", "New password", "Repeat the new password"):
            assert input_value(soup, field) in (None, ""), "a password was sent back"
        assert rows(app, StaffUser) == before, "the password or session epoch changed"

    expect_all([
        ("wrong password!", other, other, "Current password", "The current password is not correct."),
        (good, other, other + "!", "Repeat the new password", "The two passwords differ."),
        (good, "short", "short", "New password", "Use at least 12 characters."),
        (good, LONG, LONG, "New password", "Field cannot be longer than 1024 characters."),
        (good, "", "", "New password", "This field is required."),
        ("", other, other, "Current password", "This field is required."),
        (good, "long enough\x00password", "long enough\x00password", "New password", NUL_MESSAGE),
    ], check)
    assert owner_client.get("/admin/customers").status_code == 200  # still logged in


# --- login ------------------------------------------------------------------------------------------


def test_login_form_shows_the_message_next_to_the_field(client, owner):
    def check(email, password, label, message):
        token = csrf_token(client)
        response = client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})
        assert response.status_code == 422, response.status_code
        soup = soup_of(response)
        assert field_error(soup, label) == message, f"next to {label}: {field_error(soup, label)!r}"
        if email:
            assert same_text(input_value(soup, "E-mail address"), email), "typed value lost"
        assert input_value(soup, "Password") in (None, ""), "the password was sent back"

    expect_all([
        ("", factories.PASSWORD, "E-mail address", "This field is required."),
        ("owner@example.test", "", "Password", "This field is required."),
        (LONG, factories.PASSWORD, "E-mail address", "Field cannot be longer than 254 characters."),
        ("owner@example.test", LONG, "Password", "Field cannot be longer than 1024 characters."),
        ("owner\x00@example.test", factories.PASSWORD, "E-mail address", NUL_MESSAGE),
        ("owner@example.test", factories.PASSWORD + "\x00", "Password", NUL_MESSAGE),
    ], check)
    assert client.get("/admin/customers").status_code == 302  # not logged in


def test_login_with_odd_addresses_is_a_plain_refusal(client, owner):
    def check(email):
        token = csrf_token(client)
        response = client.post("/admin/login", data={"email": email, "password": "wrong password", "csrf_token": token})
        assert response.status_code == 422, response.status_code
        assert "The e-mail address or password is not correct." in alerts(soup_of(response))

    expect_all([(e,) for e in (EMOJI, "' OR 1=1 --", "%", "_@_", "owner@example.test ", "OWNER@EXAMPLE.TEST\t")], check)
    assert client.get("/admin/customers").status_code == 302


# --- hypothesis: random values into every field -------------------------------------------------------

SPECIAL = [
    "", " ", "\x00", "NaN", "sNaN", "-Infinity", "1e999999", "-1", "0", "9" * 40, "1E-1000", "0E+1000000", LONG,
    "2024-02-30", "0001-01-01", "9999-12-31", "NL91ABNA0417164300", "NL00BANK0123456789", "DEUTDEFF", "a@b.c",
    "zoë@exämple.com", EMOJI, "İ" * 40, "<script>alert(1)</script>", "' OR '1'='1", "%_\\", "\r\n", "١٢٣", "²",
]
garbage = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60),
    st.sampled_from(SPECIAL),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.dates().map(date.isoformat),
)


def valid_or(*values: str):
    """Mostly garbage, sometimes a value the field accepts, so saving is exercised too."""
    return st.one_of(st.sampled_from(values), garbage)


HYPOTHESIS = settings(max_examples=30, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

plain_text = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=30)
VALID_CUSTOMER = {  # values every field accepts; hypothesis then spoils some of them
    "kind": st.sampled_from(["individual", "company"]), "country": st.sampled_from(["NL", "DE", "US"]),
    "language": st.sampled_from(["nl", "en", "de"]), "name": plain_text.filter(str.strip),
    "company_name": plain_text.filter(str.strip), "number": st.from_regex(r"\AZ[A-Za-z0-9._/-]{0,20}\Z"),
    "email": st.sampled_from(["", "someone@example.com", "zoë@exämple.com"]), "phone": st.sampled_from(["", "+31 (0)30-123"]),
    "street": plain_text, "postal_code": plain_text.map(lambda s: s[:20]), "city": plain_text,
    "vat_id": plain_text, "tax_number": plain_text, "iban": st.sampled_from(["", "NL91ABNA0417164300", "de89 3704 0044 0532 0130 00"]),
    "bic": st.sampled_from(["", "ABNANL2A", "DEUTDEFF500"]), "bank_holder": plain_text, "tags": plain_text,
    "cf_number": st.sampled_from(["", "12.5", "-3", "1e3"]), "cf_date": st.sampled_from(["", "2030-01-31"]),
    "cf_text": plain_text,
}
CUSTOMER_FIELD_NAMES = sorted(VALID_CUSTOMER) + ["assigned_staff_ids"]


@HYPOTHESIS
@given(
    valid=st.fixed_dictionaries(VALID_CUSTOMER),
    spoiled=st.dictionaries(st.sampled_from(CUSTOMER_FIELD_NAMES), garbage, max_size=len(CUSTOMER_FIELD_NAMES)),
)
def test_customer_form_never_fails_on_random_input(app, owner_client, customer, custom_fields, valid, spoiled):
    names = {"cf_number": custom_fields["Contract value"], "cf_date": custom_fields["Renewal date"],
             "cf_text": custom_fields["Account manager note"]}
    data = {names.get(key, key): value for key, value in {**valid, **spoiled}.items()}
    edit = {**data, "number": spoiled.get("number", "")}  # empty keeps the number (the new one holds it)
    for url, body in (("/admin/customers/new", data), (f"/admin/customers/{customer.id}/edit", edit)):
        before = _stored_customer(app, customer.id)
        response = owner_client.post(url, data=body)
        event(f"{url.split('/')[-1]}: {response.status_code}")
        assert response.status_code in (302, 422), (url, response.status_code, body)
        if response.status_code == 422:
            assert soup_of(response).find(class_="error") or alerts(soup_of(response))
            if url.endswith("/edit"):
                assert _stored_customer(app, customer.id) == before


LINE_STRATEGIES = {"description": valid_or("Work"), "quantity": valid_or("1", "2.5"),
                   "unit_price": valid_or("10", "-3.25"), "vat_rate": valid_or("21", "0")}


@HYPOTHESIS
@given(
    head=st.fixed_dictionaries({
        "issue_date": valid_or(clock.today().isoformat()), "due_date": valid_or((clock.today() + timedelta(30)).isoformat()),
        "currency": valid_or("EUR", "CHF"),
        "action": st.sampled_from(["save", "save", "add_line", "remove_line:0", "remove_line:1", ""]),
    }),
    lines=st.lists(st.fixed_dictionaries(LINE_STRATEGIES), min_size=1, max_size=3),
)
def test_invoice_form_never_fails_on_random_input(app, owner_client, customer, head, lines):
    data = dict(head)
    for i, line in enumerate(lines):
        data.update({f"lines-{i}-{name}": value for name, value in line.items()})
    documents = count(app, Document)
    response = owner_client.post(f"/admin/customers/{customer.id}/invoices/new", data=data)
    event(f"{head['action'] or 'no action'}: {response.status_code}")
    assert response.status_code in (200, 302, 422), (response.status_code, data)
    assert count(app, Document) == documents + (response.status_code == 302)
