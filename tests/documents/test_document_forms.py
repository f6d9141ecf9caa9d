"""The staff forms that make documents, through HTTP as staff fill them in: a new invoice,
quote, order confirmation or delivery note (lines added and removed by posting back, nothing
typed lost), an invoice saved as a draft, edited, issued or deleted, a credit note for an
invoice, a reminder for overdue invoices; and what each refuses, said at the field.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models.db import db
from models.documents import Document, DocumentStatus
from tests import factories
from tests.conftest import field_error, input_value, soup_of
from tests.documents.test_document_page import (
    buttons,
    confirm,
    details,
    dialog,
    flashes,
    followed,
    number,
    page,
    press,
    shown_choice,
    status,
    title,
)


KINDS = {
    # kind: (label, number prefix, heading of the new form, its create button)
    "invoice": ("Invoice", "", "New invoice for Wagner GmbH", "Create invoice"),
    "quote": ("Quote", "Q-", "New quote for Wagner GmbH", "Create quote"),
    "order_confirmation": ("Order confirmation", "OC-", "New order confirmation for Wagner GmbH",
                           "Create order confirmation"),
    "delivery_note": ("Delivery note", "DN-", "New delivery note for Wagner GmbH", "Create delivery note"),
}


def new_path(customer, kind: str) -> str:
    return f"/admin/customers/{customer.id}/documents/new?kind={kind}"


def form_data(soup) -> dict[str, str]:
    """What the browser would send of the form as it is shown (text, dates, selects, textareas)."""
    form = soup.find("form", id="invoice-form")
    data = {}
    for control in form.find_all(["input", "select", "textarea"]):
        name = control.get("name")
        if not name or control.get("type") in ("checkbox", "radio", "submit"):
            continue
        if control.name == "select":
            option = control.find("option", selected=True) or control.find("option")
            data[name] = option["value"]
        elif control.name == "textarea":
            data[name] = control.get_text().lstrip("\r\n")
        else:
            data[name] = control.get("value", "")
    return data


def line_rows(soup) -> list[dict[str, str]]:
    """The line inputs as a person sees them, row by row: label → value."""
    rows = []
    for row in soup.find_all("div", class_="line-row"):
        rows.append({label.get_text(strip=True): row.find(id=label["for"]).get("value")
                     for label in row.find_all("label")})
    return rows


def fill_line(data: dict, index: int, description: str, quantity: str, price: str, vat: str = "21") -> dict:
    data.update({f"lines-{index}-description": description, f"lines-{index}-quantity": quantity,
                 f"lines-{index}-unit_price": price, f"lines-{index}-vat_rate": vat})
    return data


def lines_table(soup) -> list[list[str]]:
    return [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in soup.find("table").tbody.find_all("tr")]


def totals(soup) -> dict[str, str]:
    return {tr.th.get_text(strip=True): tr.td.get_text(strip=True) for tr in soup.find("table").tfoot.find_all("tr")}


def labels(soup) -> set[str]:
    return {label.get_text(strip=True) for label in soup.find("form", id="invoice-form").find_all("label")}


# --- a new document of each kind ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_create_each_kind_adding_and_removing_lines(app, owner_client, customer, today, kind):
    label, prefix, heading, create = KINDS[kind]
    soup = owner_client.soup(new_path(customer, kind))
    assert soup.find("h1").get_text(strip=True) == heading
    assert input_value(soup, "Issue date") == today.isoformat()
    assert ("Due date" in labels(soup)) == (kind == "invoice")
    assert ("Valid until" in labels(soup)) == (kind == "quote")
    if kind == "invoice":
        assert input_value(soup, "Due date") == (today + timedelta(days=14)).isoformat()
    if kind == "quote":
        assert input_value(soup, "Valid until") == (today + timedelta(days=30)).isoformat()
    assert shown_choice(soup, "Currency") == "EUR"
    assert create in buttons(soup)
    assert ("Save as draft" in buttons(soup)) == (kind == "invoice")
    assert len(line_rows(soup)) == 1

    # a first line typed, then "Add line": what was typed stays, a second empty line appears
    data = fill_line(form_data(soup), 0, "Discarded", "3", "10.00")
    response = owner_client.post(new_path(customer, kind), data={**data, "action": "add_line"})
    assert response.status_code == 200
    soup = soup_of(response)
    rows = line_rows(soup)
    assert len(rows) == 2
    assert rows[0] == {"Description": "Discarded", "Quantity": "3", "Unit price": "10.00", "VAT rate (%)": "21"}
    assert not rows[1]["Description"]
    assert {"Remove line 1", "Remove line 2"} <= buttons(soup)

    # the second filled in, the first removed: the second moves up with what was typed
    data = fill_line(form_data(soup), 1, "Installation", "2.5", "80.00", "9")
    soup = soup_of(owner_client.post(new_path(customer, kind), data={**data, "action": "remove_line:0"}))
    assert line_rows(soup) == [{"Description": "Installation", "Quantity": "2.5", "Unit price": "80.00",
                                "VAT rate (%)": "9"}]
    assert "Remove line 1" not in buttons(soup)  # the last line stays

    created = followed(owner_client, owner_client.post(new_path(customer, kind), data={**form_data(soup),
                                                                                        "action": "save"}))
    expected = number(prefix, 1, today)
    assert flashes(created) == [f"{label} {expected} was created."]
    assert title(created) == f"{label} {expected}"
    assert lines_table(created) == [["Installation", "2.5", "€80.00", "9%", "€200.00"]]
    assert totals(created)["Total"] == "€218.00"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 1


def test_amounts_typed_with_a_decimal_comma_are_taken_exactly(owner_client, customer):
    soup = owner_client.soup(new_path(customer, "invoice"))
    data = fill_line(form_data(soup), 0, "Consulting", "2,5", "80,10", "9")
    created = followed(owner_client, owner_client.post(new_path(customer, "invoice"), data={**data, "action": "save"}))
    assert lines_table(created) == [["Consulting", "2.5", "€80.10", "9%", "€200.25"]]
    assert totals(created)["Total"] == "€218.27"


def test_lines_with_htmx_come_back_as_the_lines_block_alone(owner_client, customer):
    soup = owner_client.soup(new_path(customer, "quote"))
    data = fill_line(form_data(soup), 0, "Consulting", "1", "100.00")
    add = [b for b in soup.find_all("button") if b.get_text(strip=True) == "Add line"][0]
    # HTMX posts the enclosing form (its hidden kind too) to the button's hx-post
    response = owner_client.post(add["hx-post"], data={**data, add["name"]: add["value"]},
                                 headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = soup_of(response)
    assert fragment.find("html") is None and fragment.find("h1") is None
    assert fragment.find("legend").get_text(strip=True) == "Lines"
    assert "Valid until" not in {label.get_text(strip=True) for label in fragment.find_all("label")}
    assert [row["Description"] or "" for row in line_rows(fragment)] == ["Consulting", ""]
    add = [b for b in fragment.find_all("button") if b.get_text(strip=True) == "Add line"][0]
    assert add["hx-target"] == "#invoice-lines" and add["hx-post"].endswith("/documents/new")


def test_an_external_number_is_kept_once(owner_client, customer):
    soup = owner_client.soup(new_path(customer, "delivery_note"))
    data = fill_line(form_data(soup), 0, "Pallets", "4", "0.00", "0")
    created = followed(owner_client, owner_client.post(new_path(customer, "delivery_note"),
                                                       data={**data, "number": " LS-7781 ", "action": "save"}))
    assert title(created) == "Delivery note LS-7781"
    # a new form (the same one sent again would land on the delivery note it made)
    data = fill_line(form_data(owner_client.soup(new_path(customer, "delivery_note"))), 0, "Pallets", "4", "0.00", "0")
    response = owner_client.post(new_path(customer, "delivery_note"), data={**data, "number": "LS-7781",
                                                                             "action": "save"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Number") == "Number LS-7781 is already used."


@pytest.mark.parametrize("kind", ["credit_note", "reminder", "nonsense", ""])
def test_only_the_four_kinds_are_made_with_this_form(owner_client, customer, kind):
    response = owner_client.get(new_path(customer, kind))
    if kind == "":  # no kind: an invoice, as the old "New invoice" address
        assert soup_of(response).find("h1").get_text(strip=True) == "New invoice for Wagner GmbH"
    else:
        assert response.status_code == 404


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_filled_in(app, owner_client, customer, kind):
    response = owner_client.post(new_path(customer, kind), data={"kind": kind, "action": "save"})
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Issue date") == "Enter a date."
    if kind == "invoice":
        assert field_error(soup, "Due date") == "Enter a date."
    if kind == "quote":
        assert field_error(soup, "Valid until") == "Enter a date."
    assert field_error(soup, "Description") == "Describe the line."
    assert field_error(soup, "Unit price") == "This field is required."
    assert soup.find("h1").get_text(strip=True) == KINDS[kind][2]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


@pytest.mark.parametrize("kind", ["invoice", "quote"])
def test_a_negative_quantity_is_refused(app, owner_client, customer, kind):
    soup = owner_client.soup(new_path(customer, kind))
    data = fill_line(form_data(soup), 0, "Returned goods", "-2", "50.00")
    response = owner_client.post(new_path(customer, kind), data={**data, "action": "save"})
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Quantity") == "Number must be between 0.001 and 1000000."
    assert line_rows(soup)[0]["Quantity"] == "-2"  # what was typed stays, to correct it
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


def test_an_invoice_total_of_zero_or_less_is_refused_at_the_lines(owner_client, customer):
    soup = owner_client.soup(new_path(customer, "invoice"))
    data = fill_line(form_data(soup), 0, "Refund", "1", "-50.00")
    response = owner_client.post(new_path(customer, "invoice"), data={**data, "action": "save"})
    assert response.status_code == 422
    soup = soup_of(response)
    lines = soup.find("fieldset", id="invoice-lines")
    assert soup.find(id=lines["aria-describedby"]).get_text(strip=True) == (
        "The invoice total must be more than zero. Money owed to the customer is a credit note, not an invoice.")


@pytest.mark.parametrize("kind, field, message", [
    ("invoice", "due_date", "The due date cannot be before the issue date."),
    ("quote", "valid_until", "The valid-until date cannot be before the issue date."),
])
def test_dates_before_the_issue_date(owner_client, customer, today, kind, field, message):
    soup = owner_client.soup(new_path(customer, kind))
    data = {**fill_line(form_data(soup), 0, "Work", "1", "10.00"), field: str(today - timedelta(days=1)),
            "action": "save"}
    response = owner_client.post(new_path(customer, kind), data=data)
    assert response.status_code == 422
    assert field_error(soup_of(response), {"due_date": "Due date", "valid_until": "Valid until"}[field]) == message


def test_only_an_invoice_is_saved_as_a_draft(app, owner_client, customer):
    soup = owner_client.soup(new_path(customer, "quote"))
    data = fill_line(form_data(soup), 0, "Work", "1", "10.00")
    response = owner_client.post(new_path(customer, "quote"), data={**data, "action": "draft"})  # crafted
    assert response.status_code == 422
    assert soup_of(response).find("div", class_="alert-error").get_text(strip=True) == "Only invoices have drafts."
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


# --- drafts: save, edit, issue, delete ----------------------------------------------------------


def _draft(owner_client, customer, description="Design", price="400.00"):
    soup = owner_client.soup(new_path(customer, "invoice"))
    data = fill_line(form_data(soup), 0, description, "1", price)
    return followed(owner_client, owner_client.post(new_path(customer, "invoice"), data={**data, "action": "draft"}))


def test_save_as_draft_edit_and_issue(app, owner_client, customer, today):
    soup = _draft(owner_client, customer)
    assert flashes(soup) == ["Invoice (draft) was created."]
    assert title(soup) == "Invoice (draft)"
    assert status(soup) == "draft"
    assert totals(soup)["Total"] == "€484.00"
    draft_id = int(soup.find("a", string="Edit draft")["href"].split("/")[-2])

    edit = owner_client.soup(soup.find("a", string="Edit draft")["href"])
    assert edit.find("h1").get_text(strip=True) == "Edit draft invoice for Wagner GmbH"
    # as stored: three decimals of quantity, two of the rate
    assert line_rows(edit) == [{"Description": "Design", "Quantity": "1.000", "Unit price": "400.00",
                                "VAT rate (%)": "21.00"}]
    assert input_value(edit, "Due date") == (today + timedelta(days=14)).isoformat()
    assert "Number" not in labels(edit)  # a draft gets its number when it is issued
    assert "Save draft" in buttons(edit)

    path = f"/admin/documents/{draft_id}/edit"
    data = fill_line(form_data(edit), 0, "Design, revised", "2", "450.00")
    soup = soup_of(owner_client.post(path, data={**data, "action": "add_line"}))
    data = fill_line(form_data(soup), 1, "Printing", "1", "100.00", "9")
    soup = followed(owner_client, owner_client.post(path, data={**data, "action": "save"}))
    assert flashes(soup) == ["The draft was saved."]
    assert title(soup) == "Invoice (draft)"
    assert lines_table(soup) == [["Design, revised", "2", "€450.00", "21%", "€900.00"],
                                 ["Printing", "1", "€100.00", "9%", "€100.00"]]
    assert totals(soup)["Total"] == "€1,198.00"

    soup = followed(owner_client, press(owner_client, soup, "Issue invoice"))
    issued = number("", 1, today)
    assert flashes(soup) == [f"Invoice {issued} was issued."]
    assert title(soup) == f"Invoice {issued}"
    assert status(soup) == "open"
    assert {"Send invoice", "Record payment"} <= buttons(soup)
    assert not buttons(soup) & {"Issue invoice", "Delete draft"}

    # an issued invoice is corrected with a credit note, not edited
    soup = followed(owner_client, owner_client.get(path))
    assert flashes(soup) == ["Only a draft can be edited; correct an issued invoice with a credit note."]
    response = owner_client.post(path, data={**data, "action": "save"})
    assert flashes(followed(owner_client, response)) == [
        "Only a draft can be edited; correct an issued invoice with a credit note."]
    assert totals(page(owner_client, draft_id))["Total"] == "€1,198.00"
    # and issued once only
    soup = followed(owner_client, owner_client.post(f"/admin/documents/{draft_id}/issue"))
    assert flashes(soup) == ["Only a draft can be edited; correct an issued invoice with a credit note."]
    assert title(soup) == f"Invoice {issued}"


def test_drafts_take_no_number_until_issued(owner_client, customer, today):
    first = _draft(owner_client, customer)
    soup = owner_client.soup(new_path(customer, "invoice"))
    data = fill_line(form_data(soup), 0, "Other", "1", "10.00")
    issued = followed(owner_client, owner_client.post(new_path(customer, "invoice"), data={**data, "action": "save"}))
    assert title(issued) == f"Invoice {number('', 1, today)}"
    assert title(followed(owner_client, press(owner_client, first, "Issue invoice"))) == f"Invoice {number('', 2, today)}"


def test_editing_a_draft_checks_like_creating(owner_client, customer, today):
    soup = _draft(owner_client, customer)
    path = soup.find("a", string="Edit draft")["href"]
    data = {**form_data(owner_client.soup(path)), "due_date": "", "lines-0-quantity": "-1", "action": "save"}
    response = owner_client.post(path, data=data)
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Due date") == "Enter a date."
    assert field_error(soup, "Quantity") == "Number must be between 0.001 and 1000000."


def test_delete_a_draft_after_confirming(app, owner_client, customer):
    soup = _draft(owner_client, customer)
    draft_path = soup.find("a", string="Edit draft")["href"].removesuffix("/edit")
    asked = press(owner_client, soup, "Delete draft")
    _, heading, consequence = dialog(soup_of(asked))
    assert heading == "Delete this draft?"
    assert consequence == "The draft and its lines are deleted. It never had a number."
    assert title(owner_client.soup(draft_path)) == "Invoice (draft)"  # asking deleted nothing
    overview = followed(owner_client, confirm(owner_client, asked, "Yes, delete the draft"))
    assert flashes(overview) == ["The draft was deleted."]
    assert overview.find("h1").get_text(strip=True).startswith("Wagner GmbH")
    assert owner_client.get(draft_path).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


def test_an_issued_invoice_is_not_deleted(app, owner_client, customer):
    invoice = factories.invoice(customer)
    soup = followed(owner_client, owner_client.post(f"/admin/documents/{invoice.id}/delete", data={"confirm": "1"}))
    assert flashes(soup) == ["Only a draft can be edited; correct an issued invoice with a credit note."]
    assert status(soup) == "open"


# --- credit notes -----------------------------------------------------------------------------


def credit_path(invoice) -> str:
    return f"/admin/documents/{invoice.id}/credit-note"


def test_credit_note_for_part_of_an_invoice(owner_client, customer, today):
    invoice = factories.invoice(customer, amount="100.00")  # 121.00
    soup = owner_client.soup(credit_path(invoice))
    assert soup.find("h1").get_text(strip=True) == f"Credit note for invoice {invoice.number}"
    assert line_rows(soup) == [{"Description": f"Credit for invoice {invoice.number}", "Quantity": "1",
                                "Unit price": "121.00", "VAT rate (%)": "0"}]
    assert "Currency" not in labels(soup)  # the invoice's
    assert "Create credit note" in buttons(soup)
    data = fill_line(form_data(soup), 0, "Damaged in transport", "1", "40.00", "0")
    note = followed(owner_client, owner_client.post(credit_path(invoice), data={**data, "action": "save"}))
    note_number = number("CN-", 1, today)
    assert flashes(note) == [f"Credit note {note_number} was created."]
    assert title(note) == f"Credit note {note_number}"
    assert details(note)["Refers to"] == f"Invoice {invoice.number}"
    assert details(note)["Currency"] == "EUR"
    soup = page(owner_client, invoice.id)
    assert status(soup) == "partially paid"
    assert totals(soup)["Credited"] == "€40.00" and totals(soup)["Outstanding"] == "€81.00"
    assert details(soup)["Credit note"] == f"Credit note {note_number}"


def test_credit_note_larger_than_outstanding_becomes_customer_credit(owner_client, customer, today):
    invoice = factories.invoice(customer, amount="100.00")  # 121.00
    other = factories.invoice(customer, amount="50.00")
    soup = owner_client.soup(credit_path(invoice))
    data = fill_line(form_data(soup), 0, "Goodwill", "1", "150.00", "0")
    followed(owner_client, owner_client.post(credit_path(invoice), data={**data, "action": "save"}))
    assert status(page(owner_client, invoice.id)) == "paid"
    assert "Apply customer credit (€29.00)" in buttons(page(owner_client, other.id))


def test_credit_note_refusals(app, owner_client, customer, today):
    invoice = factories.invoice(customer, issue_date=today - timedelta(days=5))
    soup = owner_client.soup(credit_path(invoice))
    data = {**form_data(soup), "issue_date": str(today - timedelta(days=6)), "action": "save"}
    response = owner_client.post(credit_path(invoice), data=data)
    assert response.status_code == 422
    assert field_error(soup_of(response), "Issue date") == "The credit note cannot be dated before its invoice."
    response = owner_client.post(credit_path(invoice), data={**data, "issue_date": str(today),
                                                            "lines-0-quantity": "-1"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Quantity") == "Number must be between 0.001 and 1000000."
    response = owner_client.post(credit_path(invoice), data={**data, "issue_date": str(today),
                                                            "lines-0-unit_price": "-10.00"})
    assert response.status_code == 422
    lines = soup_of(response).find("fieldset", id="invoice-lines")
    assert soup_of(response).find(id=lines["aria-describedby"]).get_text(strip=True) == (
        "The credit note's total must be more than zero.")
    # only an issued invoice gets one: a quote's or a draft's address is no credit-note form
    quote = factories.document(customer, "quote")
    assert owner_client.get(credit_path(quote)).status_code == 404
    draft = factories.document(customer, "invoice", draft=True)
    soup = followed(owner_client, owner_client.get(credit_path(draft)))  # not a form "for invoice None"
    assert flashes(soup) == ["A credit note refers to an issued invoice that is not cancelled."]
    assert title(soup) == "Invoice (draft)"
    response = owner_client.post(credit_path(draft), data={**data, "issue_date": str(today)})
    assert response.status_code == 422
    assert "A credit note refers to an issued invoice that is not cancelled." in soup_of(response).get_text(" ")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document).where(
            Document.kind == "credit_note")) == 0


# --- reminders --------------------------------------------------------------------------------


def reminder_path(customer) -> str:
    return f"/admin/customers/{customer.id}/reminders/new"


def invoice_choices(soup) -> dict[str, bool]:
    """Each invoice the form offers (its label's first part, the number) → ticked or not."""
    fieldset = soup.find("legend", string="Invoices").find_parent("fieldset")
    return {box.find_parent("label").get_text(" ", strip=True).split(" · ")[0]: box.has_attr("checked")
            for box in fieldset.find_all("input", type="checkbox")}


def test_reminder_form_ticks_the_overdue_invoices_and_suggests_the_level(app, owner_client, customer, today):
    late = factories.invoice(customer, amount="100.00", due_in_days=-40)
    later = factories.invoice(customer, amount="50.00", due_in_days=-10)
    not_due = factories.invoice(customer, amount="20.00", due_in_days=10)
    factories.invoice(customer, amount="30.00", status=DocumentStatus.paid, amount_paid="36.30")
    soup = owner_client.soup(reminder_path(customer))
    assert soup.find("h1").get_text(strip=True) == "New reminder for Wagner GmbH"
    assert invoice_choices(soup) == {late.number: True, later.number: True, not_due.number: False}
    assert "(overdue)" in soup.find("input", value=str(late.id)).find_parent("label").get_text()
    assert shown_choice(soup, "Level") == "1st reminder"
    assert input_value(soup, "Fee") == "0.00" and input_value(soup, "Interest") == "0.00"
    assert input_value(soup, "Issue date") == today.isoformat()

    response = owner_client.post(reminder_path(customer), data={
        "invoices": [str(late.id), str(later.id)], "level": "1", "issue_date": str(today), "fee": "7.50",
        "interest": "1.25"})
    soup = followed(owner_client, response)
    reminder_number = number("R-", 1, today)
    assert flashes(soup) == [f"Reminder {reminder_number} was created."]
    assert title(soup) == f"Reminder {reminder_number}"
    assert details(soup)["Level"] == "1st reminder"
    table = soup.find("caption", string="Invoices this reminder asks for").find_parent("table")
    rows = [[c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])] for tr in table.find_all("tr")[1:]]
    assert rows == [[late.number, "€121.00"], [later.number, "€60.50"], ["Fee", "€7.50"], ["Interest", "€1.25"]]
    assert status(soup) == "open"  # the fee and interest are owed

    # the next reminder for them is the second
    soup = owner_client.soup(reminder_path(customer))
    assert shown_choice(soup, "Level") == "2nd reminder"


def test_reminder_without_fee_is_simply_issued(owner_client, customer, today):
    late = factories.invoice(customer, due_in_days=-40)
    soup = followed(owner_client, owner_client.post(reminder_path(customer), data={
        "invoices": [str(late.id)], "level": "3", "issue_date": str(today), "fee": "", "interest": ""}))
    assert details(soup)["Level"] == "Final notice"
    assert status(soup) == "issued"
    assert "Record a payment" not in [h.get_text(strip=True) for h in soup.find_all("h3")]


@pytest.mark.parametrize("data, label, message", [
    ({"invoices": []}, None, "Choose the invoices this reminder is about."),
    ({"fee": "-1.00"}, "Fee", "Number must be between 0 and 1000000000."),
    ({"interest": "0.001"}, "Interest", "Use at most two decimals."),
    ({"fee": "ten"}, "Fee", "Enter a number such as 1250.50 or 1250,50, without thousands separators."),
    ({"issue_date": ""}, "Issue date", "Enter a date."),
    ({"issue_date": "2020-01-01"}, "Issue date", "A reminder cannot be dated before the invoices it reminds of."),
    ({"issue_date": "0001-01-01"}, "Issue date", "A reminder cannot be dated before the invoices it reminds of."),
    ({"level": "4"}, "Level", "Not a valid choice."),
])
def test_reminder_refusals(app, owner_client, customer, today, data, label, message):
    late = factories.invoice(customer, due_in_days=-40)
    sent = {"invoices": [str(late.id)], "level": "1", "issue_date": str(today), "fee": "5.00", "interest": "0.00",
            **data}
    response = owner_client.post(reminder_path(customer), data=sent)
    assert response.status_code == 422
    soup = soup_of(response)
    if label is None:
        fieldset = soup.find("legend", string="Invoices").find_parent("fieldset")
        assert soup.find(id=fieldset["aria-describedby"]).get_text(strip=True) == message
    else:
        assert field_error(soup, label) == message
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document).where(Document.kind == "reminder")) == 0


def test_reminder_for_another_customers_invoice(app, owner_client, customer, today):
    theirs = factories.invoice(factories.customer(name="Other BV"), due_in_days=-40)
    factories.invoice(customer, due_in_days=-40)
    response = owner_client.post(reminder_path(customer), data={
        "invoices": [str(theirs.id)], "level": "1", "issue_date": str(today), "fee": "0.00", "interest": "0.00"})
    assert response.status_code == 422
    fieldset = soup_of(response).find("legend", string="Invoices").find_parent("fieldset")
    assert soup_of(response).find(id=fieldset["aria-describedby"]).get_text(strip=True) == (
        "Choose the invoices this reminder is about.")


def test_reminder_form_for_a_customer_who_owes_nothing(owner_client, customer):
    soup = owner_client.soup(reminder_path(customer))
    assert soup.find("p", class_="empty").get_text(strip=True) == "This customer has no unpaid invoices."
    assert "Create reminder" not in buttons(soup)
