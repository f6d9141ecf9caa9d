"""The staff document page (/admin/documents/<id>) and its actions, through HTTP as staff use
them: what each kind's page says and offers, every correction pressed as its button sends it
(risky ones answer a confirmation first and act only on its "Yes, …"), what is refused and
where the message appears, crafted ids, an employee's reach, and the page's query count.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from models import clock
from models.customers import Customer
from models.db import db, now_utc
from models.documents import Document, DocumentKind, DocumentStatus
from models.payments import Payment, PaymentItem, PaymentStatus
from tests import factories
from tests.admin.test_confirmations import dialog
from tests.conftest import count_queries, field_error, input_value, soup_of


@pytest.fixture(autouse=True)
def _redis_unreachable(app, monkeypatch):
    """Sending queues e-mail; enqueueing after the commit is best-effort with Redis down."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


def number(prefix: str, n: int, today) -> str:
    return f"{prefix}{today.year}-{n:05d}"


# --- reading the page like a person ---------------------------------------------------------


def page(client, document_id: int, expect: int = 200):
    return client.soup(f"/admin/documents/{document_id}", expect=expect)


def title(soup) -> str:
    return soup.find("h1").get_text(" ", strip=True)


def status(soup) -> str:
    return soup.find("span", class_="status").get_text(" ", strip=True)


def buttons(soup) -> set[str]:
    return {b.get_text(" ", strip=True) for b in soup.find("main").find_all("button")}


def links(soup) -> set[str]:
    return {a.get_text(" ", strip=True) for a in soup.find("main").find_all("a")}


def flashes(soup) -> list[str]:
    box = soup.find(class_="flashes")
    return [p.get_text(" ", strip=True) for p in box.find_all("p")] if box else []


def details(soup) -> dict[str, str]:
    """The page's description lists: term → description, as read."""
    found = {}
    for dl in soup.find("main").find_all("dl"):
        for dt in dl.find_all("dt"):
            found.setdefault(dt.get_text(" ", strip=True), dt.find_next_sibling("dd").get_text(" ", strip=True))
    return found


def headings(soup) -> list[str]:
    return [h.get_text(" ", strip=True) for h in soup.find("main").find_all(["h1", "h2", "h3"])]


def shown_choice(soup, label_text: str) -> str:
    """The option a select shows: the selected one, or else the first."""
    label = soup.find("label", string=lambda s: s and s.strip() == label_text)
    select_ = soup.find(id=label["for"])
    option = select_.find("option", selected=True) or select_.find("option")
    return option.get_text(strip=True)


def button(scope, text: str):
    """A button by the text a person reads on it (also what only a screen reader hears)."""
    found = [b for b in scope.find_all("button") if b.get_text(" ", strip=True) == text]
    assert found, f"no button {text!r} in {[b.get_text(' ', strip=True) for b in scope.find_all('button')]}"
    return found[0]


def press(client, scope, text: str):
    """The button's form as a browser sends it: its hidden fields plus the button's name=value."""
    pressed = button(scope, text)
    form = pressed.find_parent("form")
    data = {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name") and i.get("type") == "hidden"}
    if pressed.get("name"):
        data[pressed["name"]] = pressed.get("value", "")
    return client.post(form["action"], data=data)


def followed(client, response):
    """Where the action's redirect leads, as the browser shows it."""
    assert response.status_code == 302, (response.status_code, soup_of(response).get_text(" ", strip=True)[:600])
    return client.soup(response.headers["Location"])


def confirm(client, asked, yes: str):
    """A confirmation page was answered: it says something and changes nothing until "Yes, …"."""
    assert asked.status_code == 200, asked.status_code
    soup = soup_of(asked)
    dialog(soup)
    return press(client, soup, yes)


def payment_rows(soup) -> list[list[str]]:
    section = soup.find(id="payments")
    table = section.find("table")
    if table is None:
        return []
    return [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in table.tbody.find_all("tr")]


# Money actions: none of them belongs on a quote, a delivery note, an order confirmation or
# a credit note.
MONEY_BUTTONS = {"Send invoice", "Cancel invoice", "Record payment", "Issue invoice", "Delete draft", "Send reminder"}
MONEY_LINKS = {"Credit note", "Edit draft", "Create reminder"}


def assert_no_money_actions(soup):
    assert not buttons(soup) & MONEY_BUTTONS, buttons(soup)
    assert not links(soup) & MONEY_LINKS, links(soup)
    assert not any(text.startswith(("Write off", "Apply customer credit")) for text in buttons(soup))
    assert "Record a payment" not in headings(soup)


# --- each kind's page ------------------------------------------------------------------------


def test_draft_invoice_page(owner_client, customer):
    draft = factories.document(customer, "invoice", draft=True, amount="250.00")
    soup = page(owner_client, draft.id)
    assert title(soup) == "Invoice (draft)"
    assert status(soup) == "draft"
    assert {"Issue invoice", "Delete draft"} <= buttons(soup)
    assert "Edit draft" in links(soup)
    # not sent, paid, cancelled or released before it is issued
    assert not buttons(soup) & {"Send invoice", "Cancel invoice", "Record payment", "Withdraw from the customer",
                                "Release to the customer"}
    assert "Credit note" not in links(soup)
    assert "Payments" not in headings(soup)


def test_open_invoice_page_and_the_old_address(owner_client, customer, today):
    invoice = factories.invoice(customer, amount="100.00")
    soup = page(owner_client, invoice.id)
    assert title(soup) == f"Invoice {number('', 1, today)}"
    assert status(soup) == "open"
    assert {"Send invoice", "Cancel invoice", "Record payment", "Write off €121.00", "Withdraw from the customer"} \
        <= buttons(soup)
    assert "Credit note" in links(soup)
    assert "Record a payment" in headings(soup)
    assert not buttons(soup) & {"Issue invoice", "Delete draft"}
    assert input_value(soup, "Amount") == "121.00"  # what is outstanding, ready to record
    assert input_value(soup, "Received on") == today.isoformat()
    assert shown_choice(soup, "Method") == "Bank transfer"
    assert soup.find(string=lambda s: s and "No payments yet." in s)
    # invoice pages had /admin/invoices/<id>: links already shared still open the same page
    assert title(owner_client.soup(f"/admin/invoices/{invoice.id}")) == title(soup)


def test_pending_quote_page_offers_the_decision(owner_client, customer, today):
    quote = factories.document(customer, "quote", amount="500.00")
    soup = page(owner_client, quote.id)
    assert title(soup) == f"Quote {number('Q-', 1, today)}"
    assert status(soup) == "pending"
    assert "Record the customer's decision" in headings(soup)
    decision = soup.find(id="decision-h").find_parent("section")
    assert [label.get_text(strip=True) for label in decision.fieldset.find_all("label")] == ["Accepted", "Rejected"]
    assert input_value(soup, "Decided by") in (None, "")
    assert button(decision, "Record decision")
    assert details(soup)["Valid until"]
    assert not buttons(soup) & {"Create order confirmation", "Create invoice"}
    assert_no_money_actions(soup)


def test_accepted_quote_page_offers_the_next_step(app, owner_client, customer, today):
    quote = factories.document(customer, "quote", status=DocumentStatus.accepted, decided_at=now_utc(),
                               decided_by_name="Walter Wagner")
    soup = page(owner_client, quote.id)
    assert status(soup) == "accepted"
    assert {"Create order confirmation", "Create invoice"} <= buttons(soup)
    assert "Record the customer's decision" not in headings(soup)
    assert details(soup)["Decided"].startswith("accepted by Walter Wagner on ")
    assert_no_money_actions(soup)


@pytest.mark.parametrize("kind, label, prefix", [
    ("delivery_note", "Delivery note", "DN-"), ("order_confirmation", "Order confirmation", "OC-")])
def test_delivery_note_and_order_confirmation_have_no_money_actions(owner_client, customer, today, kind, label, prefix):
    document = factories.document(customer, kind)
    soup = page(owner_client, document.id)
    assert title(soup) == f"{label} {number(prefix, 1, today)}"
    assert status(soup) == "issued"
    assert_no_money_actions(soup)
    assert "Payments" not in headings(soup)
    assert buttons(soup) & {"Withdraw from the customer"}  # releasing is all there is to do
    assert not buttons(soup) & {"Create order confirmation", "Create invoice", "Record decision"}


def test_credit_note_page_refers_to_its_invoice(owner_client, customer, today):
    invoice = factories.invoice(customer)
    note = factories.credit_note(invoice, amount="21.00")
    soup = page(owner_client, note.id)
    assert title(soup) == f"Credit note {number('CN-', 1, today)}"
    assert details(soup)["Refers to"] == f"Invoice {invoice.number}"
    assert_no_money_actions(soup)
    # and the invoice names its credit note, and what it credited
    invoice_page = page(owner_client, invoice.id)
    assert details(invoice_page)["Credit note"] == f"Credit note {note.number}"
    assert details(invoice_page)["Credited"] == "€21.00"


def test_reminder_page_lists_its_invoices_with_fee_and_interest(owner_client, customer, today):
    first = factories.invoice(customer, amount="100.00", due_in_days=-40)
    second = factories.invoice(customer, amount="50.00", due_in_days=-10)
    reminder = factories.reminder(customer, [first, second], level=2, fee="15.00", interest="3.27")
    soup = page(owner_client, reminder.id)
    assert title(soup) == f"Reminder {number('R-', 1, today)}"
    assert details(soup)["Level"] == "2nd reminder"
    table = soup.find("caption", string="Invoices this reminder asks for").find_parent("table")
    rows = [[c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])] for tr in table.find_all("tr")[1:]]
    assert rows == [[first.number, "€121.00"], [second.number, "€60.50"], ["Fee", "€15.00"], ["Interest", "€3.27"]]
    # the fee and interest are owed like an invoice's total
    assert status(soup) == "open"
    assert "Record a payment" in headings(soup)
    assert input_value(soup, "Amount") == "18.27"


# --- payments: record, undo, more than is outstanding, dates -----------------------------


def record(client, document_id: int, amount: str, received_on, method: str = "bank_transfer", **extra):
    data = {"amount": amount, "received_on": str(received_on), "method": method, **extra}
    return client.post(f"/admin/documents/{document_id}/payments", data=data)


def test_record_a_payment_then_undo_it(app, owner_client, customer, today):
    invoice = factories.invoice(customer, amount="100.00")  # 121.00
    soup = followed(owner_client, record(owner_client, invoice.id, "50.00", today))
    assert flashes(soup) == ["The payment of €50.00 was recorded."]
    assert status(soup) == "partially paid"
    [row] = payment_rows(soup)
    assert row[1] == "Bank transfer" and row[3] == "€50.00" and row[4] == "paid"
    assert "Undo €50.00" in buttons(soup)
    assert input_value(soup, "Amount") == "71.00"  # the next payment offers what is left

    asked = press(owner_client, soup, "Undo €50.00")
    confirmation = soup_of(asked)
    assert dialog(confirmation)[1] == "Undo this payment?"
    assert dialog(confirmation)[2] == f"What it paid is owed again on {invoice.number}."
    assert status(page(owner_client, invoice.id)) == "partially paid"  # asking changed nothing
    soup = followed(owner_client, confirm(owner_client, asked, "Yes, undo the payment"))
    assert flashes(soup) == ["The payment was undone."]
    assert status(soup) == "open"
    [row] = payment_rows(soup)
    assert row[4] == "undone"
    assert not any(text.startswith("Undo") for text in buttons(soup))
    assert input_value(soup, "Amount") == "121.00"


def test_cash_payment_of_everything_marks_the_invoice_paid(owner_client, customer, today):
    invoice = factories.invoice(customer, amount="100.00")
    soup = followed(owner_client, record(owner_client, invoice.id, "121.00", today, method="cash"))
    assert status(soup) == "paid"
    assert payment_rows(soup)[0][1] == "Cash"
    assert "Record a payment" not in headings(soup)  # nothing left to record
    assert not any(text.startswith("Write off") for text in buttons(soup))


def test_a_payment_larger_than_outstanding_asks_to_confirm_the_credit(app, owner_client, customer, today):
    invoice = factories.invoice(customer, amount="100.00")  # 121.00
    other = factories.invoice(customer, amount="200.00")  # 242.00, open before the credit exists
    response = record(owner_client, invoice.id, "150.00", today)
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Amount") == ("This is more than the €121.00 outstanding. Confirm, and the rest "
                                           "becomes customer credit.")
    confirm_label = "Yes, the part above what is outstanding becomes customer credit"
    assert soup.find("label", string=lambda s: s and s.strip() == confirm_label) is not None
    assert input_value(soup, "Amount") == "150.00"  # what was typed stays
    assert status(page(owner_client, invoice.id)) == "open"  # nothing recorded yet
    assert not any(t.startswith("Apply customer credit") for t in buttons(page(owner_client, other.id)))

    soup = followed(owner_client, record(owner_client, invoice.id, "150.00", today, confirm_credit="y"))
    assert status(soup) == "paid"
    assert "Apply customer credit (€29.00)" in buttons(page(owner_client, other.id))
    # applying it pays part of the other invoice, shown as a payment from customer credit
    soup = followed(owner_client, press(owner_client, page(owner_client, other.id), "Apply customer credit (€29.00)"))
    assert flashes(soup) == ["Customer credit of €29.00 was applied."]
    assert status(soup) == "partially paid"
    assert payment_rows(soup)[0][1] == "Customer credit"
    assert not any(t.startswith("Apply customer credit") for t in buttons(soup))


@pytest.mark.parametrize("when, message", [
    (1, "The payment cannot be dated in the future."),
    (-30, "The payment cannot be dated before the invoice."),
])
def test_payment_dates_are_checked_at_received_on(owner_client, customer, today, when, message):
    invoice = factories.invoice(customer, issue_date=today - timedelta(days=10))
    response = record(owner_client, invoice.id, "10.00", today + timedelta(days=when))
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Received on") == message
    assert payment_rows(soup) == []


@pytest.mark.parametrize("amount, message", [
    ("", "Enter the amount."),
    ("-5.00", "Number must be between 0 and 1000000000."),
    ("0", "Enter an amount of more than zero, in cents at most."),
    ("1.005", "Use at most two decimals."),
    ("NaN", "Enter a number."),
    ("lots", "Enter a number such as 1250.50 or 1250,50, without thousands separators."),
    ("1.234,56", "Enter a number such as 1250.50 or 1250,50, without thousands separators."),  # thousands separators: refused, never guessed
    ("1,234", "Enter a number such as 1250.50 or 1250,50, without thousands separators."),
    ("12,505", "Enter a number such as 1250.50 or 1250,50, without thousands separators."),
])
def test_payment_amount_is_checked(owner_client, customer, today, amount, message):
    invoice = factories.invoice(customer)
    response = record(owner_client, invoice.id, amount, today)
    assert response.status_code == 422
    assert field_error(soup_of(response), "Amount") == message
    assert status(page(owner_client, invoice.id)) == "open"


def payment_form_data(soup) -> dict[str, str]:
    """What the browser sends of the "Record a payment" form as it is shown (hidden fields too)."""
    form = soup.find("h3", string="Record a payment").find_next("form")
    data = {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("type") != "checkbox"}
    data.update({s["name"]: (s.find("option", selected=True) or s.find("option"))["value"] for s in form.find_all("select")})
    return data


def test_the_same_payment_form_sent_twice_records_the_payment_once(owner_client, customer, today):
    """A double click on "Record payment" (or the answer reloaded) books the money once."""
    invoice = factories.invoice(customer, amount="100.00")  # 121.00
    data = {**payment_form_data(page(owner_client, invoice.id)), "amount": "50.00"}
    followed(owner_client, owner_client.post(f"/admin/documents/{invoice.id}/payments", data=data))
    soup = followed(owner_client, owner_client.post(f"/admin/documents/{invoice.id}/payments", data=data))
    assert len(payment_rows(soup)) == 1
    assert status(soup) == "partially paid"
    assert input_value(soup, "Amount") == "71.00"
    # the form shown next is a new one: a second payment of the same amount is recorded
    data = {**payment_form_data(soup), "amount": "50.00"}
    soup = followed(owner_client, owner_client.post(f"/admin/documents/{invoice.id}/payments", data=data))
    assert len(payment_rows(soup)) == 2
    assert input_value(soup, "Amount") == "21.00"


def test_the_whole_amount_sent_twice_is_not_asked_about_as_credit(owner_client, customer, today):
    invoice = factories.invoice(customer, amount="100.00")
    data = payment_form_data(page(owner_client, invoice.id))  # the outstanding 121.00, as suggested
    followed(owner_client, owner_client.post(f"/admin/documents/{invoice.id}/payments", data=data))
    soup = followed(owner_client, owner_client.post(f"/admin/documents/{invoice.id}/payments", data=data))
    assert flashes(soup) == ["The payment of €121.00 was recorded."]
    assert status(soup) == "paid"
    assert len(payment_rows(soup)) == 1


def test_a_payment_typed_with_a_decimal_comma_is_recorded_exactly(owner_client, customer, today):
    """Dutch and German staff (and a phone's decimal keyboard) write "12,50"."""
    invoice = factories.invoice(customer, amount="100.00")  # 121.00
    soup = followed(owner_client, record(owner_client, invoice.id, "12,50", today))
    assert status(soup) == "partially paid"
    assert payment_rows(soup)[0][3] == "€12.50"
    assert input_value(soup, "Amount") == "108.50"


# --- write off, cancel, credit ------------------------------------------------------------


def test_write_off_the_remainder(owner_client, customer, today):
    invoice = factories.invoice(customer, amount="100.00")
    followed(owner_client, record(owner_client, invoice.id, "100.00", today))
    soup = page(owner_client, invoice.id)
    asked = press(owner_client, soup, "Write off €21.00")
    _, heading, consequence = dialog(soup_of(asked))
    assert heading == f"Write off what is left on {invoice.number}?"
    assert consequence.startswith("€21.00 will no longer be asked for")
    assert status(page(owner_client, invoice.id)) == "partially paid"
    soup = followed(owner_client, confirm(owner_client, asked, "Yes, write it off"))
    assert flashes(soup) == ["€21.00 was written off."]
    assert status(soup) == "paid"
    assert details(soup)["Written off"].startswith("€21.00 · ")
    totals = {tr.th.get_text(strip=True): tr.td.get_text(strip=True) for tr in soup.find("table").tfoot.find_all("tr")}
    assert totals["Written off"] == "€21.00" and totals["Outstanding"] == "€0.00"
    assert not any(text.startswith("Write off") for text in buttons(soup))


def test_cancel_an_unsent_invoice_simply_ends_it(owner_client, customer):
    invoice = factories.invoice(customer)
    asked = press(owner_client, page(owner_client, invoice.id), "Cancel invoice")
    _, heading, consequence = dialog(soup_of(asked))
    assert heading == f"Cancel invoice {invoice.number}?"
    assert consequence == f"Invoice {invoice.number} will no longer be owed."
    soup = followed(owner_client, confirm(owner_client, asked, "Yes, cancel the invoice"))
    assert flashes(soup) == [f"Invoice {invoice.number} was cancelled."]
    assert status(soup) == "cancelled"
    assert "Credit note" not in details(soup)
    assert not buttons(soup) & {"Cancel invoice", "Send invoice", "Record payment"}


def test_cancel_a_sent_invoice_issues_a_credit_note(owner_client, customer, today):
    invoice = factories.invoice(customer, amount="100.00")
    soup = followed(owner_client, press(owner_client, page(owner_client, invoice.id), "Send invoice"))
    assert status(soup) == "open"
    asked = press(owner_client, soup, "Cancel invoice")
    assert "It was sent to the customer, so a credit note for what is left on it is issued." in dialog(soup_of(asked))[2]
    soup = followed(owner_client, confirm(owner_client, asked, "Yes, cancel the invoice"))
    note_number = number("CN-", 1, today)
    assert flashes(soup) == [f"Invoice {invoice.number} was cancelled. Credit note {note_number} was issued."]
    assert status(soup) == "cancelled"
    assert details(soup)["Credit note"] == f"Credit note {note_number}"
    note = owner_client.soup(soup.find("a", string=f"Credit note {note_number}")["href"])
    assert title(note) == f"Credit note {note_number}"
    assert details(note)["Refers to"] == f"Invoice {invoice.number}"
    lines = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in note.find("table").tbody.find_all("tr")]
    assert lines == [["Work", "1", "€100.00", "21%", "€100.00"]]  # the invoice's own lines, VAT and all


def test_actions_on_a_cancelled_invoice_are_refused_with_a_message(app, owner_client, customer, today):
    invoice = factories.invoice(customer)
    stale = page(owner_client, invoice.id)  # a colleague cancels while this page is open
    followed(owner_client, confirm(owner_client, press(owner_client, stale, "Cancel invoice"), "Yes, cancel the invoice"))

    response = record(owner_client, invoice.id, "10.00", today)
    assert response.status_code == 422
    soup = soup_of(response)
    assert "Payments are recorded on an issued invoice that is not cancelled." in soup.find(
        "div", class_="alert-error").get_text(" ", strip=True)
    for text, message in (("Cancel invoice", "This invoice is already cancelled."),
                          ("Write off €121.00", "Payments are recorded on an issued invoice that is not cancelled.")):
        asked = press(owner_client, stale, text)
        yes = [b.get_text(strip=True) for b in soup_of(asked).find("dialog").find_all("button")][0]
        soup = followed(owner_client, confirm(owner_client, asked, yes))
        assert flashes(soup) == [message], text
        assert status(soup) == "cancelled"
    response = owner_client.post(f"/admin/documents/{invoice.id}/credit-note", data={  # the form was open
        "action": "save", "issue_date": str(today), "lines-0-description": "Credit", "lines-0-quantity": "1",
        "lines-0-unit_price": "5.00", "lines-0-vat_rate": "0"})
    assert response.status_code == 422
    assert "A credit note refers to an issued invoice that is not cancelled." in soup_of(response).get_text(" ")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Payment)) == 0
        assert db.session.get(Document, invoice.id).amount_written_off == 0


# --- quotes: the decision, expiry, and what an accepted quote becomes -----------------------


def decide(client, document_id: int, decision: str = "accept", name: str = "Walter Wagner", comment: str = ""):
    return client.post(f"/admin/documents/{document_id}/decision",
                       data={"decision": decision, "name": name, "comment": comment})


def test_accept_a_quote_then_make_an_order_confirmation_and_an_invoice(app, owner_client, customer, today):
    quote = factories.document(customer, "quote", amount="500.00")
    soup = followed(owner_client, decide(owner_client, quote.id, comment="By phone"))
    assert flashes(soup) == ["The decision was recorded."]
    assert status(soup) == "accepted"
    assert details(soup)["Decided"].startswith("accepted by Walter Wagner on ")
    assert details(soup)["Decided"].endswith("By phone")

    confirmation = followed(owner_client, press(owner_client, soup, "Create order confirmation"))
    oc_number = number("OC-", 1, today)
    assert flashes(confirmation) == [f"Order confirmation {oc_number} was made from the quote."]
    assert title(confirmation) == f"Order confirmation {oc_number}"
    assert details(confirmation)["Refers to"] == f"Quote {quote.number}"
    assert_no_money_actions(confirmation)

    soup = page(owner_client, quote.id)
    assert details(soup)["Made from it"] == f"Order confirmation {oc_number}"
    draft = followed(owner_client, press(owner_client, soup, "Create invoice"))
    assert flashes(draft) == ["Invoice (draft) was made from the quote."]
    assert title(draft) == "Invoice (draft)"
    assert {"Issue invoice", "Delete draft"} <= buttons(draft)
    assert details(draft)["Refers to"] == f"Quote {quote.number}"
    totals = {tr.th.get_text(strip=True): tr.td.get_text(strip=True) for tr in draft.find("table").tfoot.find_all("tr")}
    assert totals["Total"] == "€605.00"  # the quote's lines

    # a second click makes no second invoice
    again = followed(owner_client, press(owner_client, soup, "Create invoice"))
    assert flashes(again) == ["This quote was already turned into one: see the documents made from it."]
    assert title(again) == f"Quote {quote.number}"


def test_reject_a_quote(owner_client, customer):
    quote = factories.document(customer, "quote")
    soup = followed(owner_client, decide(owner_client, quote.id, decision="reject"))
    assert status(soup) == "rejected"
    assert not buttons(soup) & {"Record decision", "Create order confirmation", "Create invoice"}


def test_decision_needs_a_choice_and_a_name(owner_client, customer):
    quote = factories.document(customer, "quote")
    response = owner_client.post(f"/admin/documents/{quote.id}/decision", data={"name": "  "})
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Decided by") == "Enter a name."
    decision = soup.find("legend", string="Decision").find_parent("fieldset")
    assert soup.find(id=decision["aria-describedby"]).get_text(strip=True) == "Choose accepted or rejected."
    assert status(soup) == "pending"
    response = decide(owner_client, quote.id, name=" \t ")  # spaces are no name
    assert response.status_code == 422
    assert field_error(soup_of(response), "Decided by") == "Enter a name."
    assert status(page(owner_client, quote.id)) == "pending"


def test_a_quote_cannot_be_accepted_after_it_expired(owner_client, customer, today):
    quote = factories.document(customer, "quote", issue_date=today - timedelta(days=40), valid_days=30)
    soup = page(owner_client, quote.id)
    assert status(soup) == "expired"
    assert "This quote expired: it can no longer be accepted." in soup.find("section").get_text(" ", strip=True)
    assert "Record decision" not in buttons(soup)
    # a form still open from before it expired
    response = decide(owner_client, quote.id)
    assert response.status_code == 422
    soup = soup_of(response)
    assert "This quote expired: it can no longer be accepted." in soup.get_text(" ", strip=True)
    assert status(soup) == "expired"
    assert status(page(owner_client, quote.id)) == "expired"


def test_a_decision_twice_is_refused_with_a_message(owner_client, customer):
    quote = factories.document(customer, "quote")
    followed(owner_client, decide(owner_client, quote.id))
    response = decide(owner_client, quote.id, decision="reject")  # a second tab, still showing the form
    assert response.status_code == 422
    soup = soup_of(response)
    assert [p.get_text(strip=True) for p in soup.find("div", class_="alert-error").find_all("p")] == [
        "This quote was already decided."]
    assert status(soup) == "accepted"


def test_decision_and_conversion_of_what_is_not_a_quote(owner_client, customer):
    invoice = factories.invoice(customer)
    response = decide(owner_client, invoice.id)
    assert response.status_code == 422
    assert "Only a quote is accepted or rejected." in soup_of(response).get_text(" ", strip=True)
    soup = followed(owner_client, owner_client.post(f"/admin/documents/{invoice.id}/convert", data={"into": "invoice"}))
    assert flashes(soup) == ["Only an accepted quote becomes an order confirmation or an invoice."]
    quote = factories.document(customer, "quote", status=DocumentStatus.accepted)
    soup = followed(owner_client, owner_client.post(f"/admin/documents/{quote.id}/convert", data={"into": "reminder"}))
    assert flashes(soup) == ["Choose an order confirmation or an invoice."]


# --- releasing to the customer ----------------------------------------------------------------


def test_withdraw_from_the_customer_and_release_again(owner_client, customer):
    invoice = factories.invoice(customer)
    soup = page(owner_client, invoice.id)
    assert "not released to the customer" not in soup.find(class_="page-head").get_text(" ", strip=True)
    soup = followed(owner_client, press(owner_client, soup, "Withdraw from the customer"))
    assert flashes(soup) == ["The customer no longer sees this document."]
    assert soup.find("span", class_="badge", string="not released to the customer") is not None
    soup = followed(owner_client, press(owner_client, soup, "Release to the customer"))
    assert flashes(soup) == ["The customer sees this document."]
    assert soup.find("span", class_="badge", string="not released to the customer") is None
    assert "Withdraw from the customer" in buttons(soup)


# --- crafted requests, access -----------------------------------------------------------------


@pytest.mark.parametrize("payment_id", ["²", "99999999999999", "0", "-1", "1e3"])
def test_crafted_payment_ids_are_not_found(owner_client, customer, payment_id):
    invoice = factories.invoice(customer)
    for data in ({}, {"confirm": "1"}):
        response = owner_client.post(f"/admin/documents/{invoice.id}/payments/{payment_id}/undo", data=data)
        assert response.status_code == 404, (payment_id, data, response.status_code)


@pytest.mark.parametrize("path", [
    "/admin/documents/99999999999999", "/admin/invoices/99999999999999", "/admin/documents/99999999999999/edit",
    "/admin/documents/99999999999999/credit-note", "/admin/customers/99999999999999/documents/new",
    "/admin/customers/99999999999999/reminders/new"])
def test_crafted_document_ids_are_not_found(owner_client, path):
    assert owner_client.get(path).status_code == 404


@pytest.mark.parametrize("action", ["issue", "delete", "cancel", "payments", "write-off", "apply-credit", "decision",
                                    "convert", "release", "payments/1/undo"])
def test_actions_on_an_unknown_document_are_not_found(owner_client, action):
    for document_id in ("99999999999999", "12345"):
        response = owner_client.post(f"/admin/documents/{document_id}/{action}", data={"confirm": "1"})
        assert response.status_code == 404, (action, document_id, response.status_code)


def test_a_payment_of_another_invoice_is_not_undone_here(app, owner_client, customer, today):
    invoice = factories.invoice(customer)
    other = factories.invoice(customer)
    followed(owner_client, record(owner_client, other.id, "10.00", today))
    with app.app_context():
        payment_id = db.session.scalar(select(Payment.id))
    soup = followed(owner_client, owner_client.post(f"/admin/documents/{invoice.id}/payments/{payment_id}/undo",
                                                    data={"confirm": "1"}))
    assert flashes(soup) == ["That payment does not belong to this document."]
    assert status(page(owner_client, other.id)) == "partially paid"


def test_an_online_payment_is_not_undone_here(app, owner_client, customer, today):
    invoice = factories.invoice(customer)
    with app.app_context():
        db.session.add(Payment(customer_id=customer.id, provider="mollie", provider_ref="tr_123", idempotency_key="k1",
                               amount=Decimal("121.00"), currency="EUR", status=PaymentStatus.paid,
                               paid_at=now_utc(), booked_at=now_utc(),
                               items=[PaymentItem(document_id=invoice.id, amount=Decimal("121.00"))]))
        db.session.commit()
        payment_id = db.session.scalar(select(Payment.id))
    soup = page(owner_client, invoice.id)
    [row] = payment_rows(soup)
    assert row[1:3] == ["Mollie", "tr_123"]
    assert not any(text.startswith("Undo") for text in buttons(soup))
    soup = followed(owner_client, owner_client.post(f"/admin/documents/{invoice.id}/payments/{payment_id}/undo",
                                                    data={"confirm": "1"}))
    assert flashes(soup) == ["An online payment is refunded at the payment provider, not undone here."]


def test_an_employee_cannot_reach_an_unassigned_customers_document(app, employee, employee_client, today):
    mine = factories.customer(name="Mine BV", assigned_to=[employee])
    theirs = factories.customer(name="Theirs BV")
    invoice = factories.invoice(theirs)
    quote = factories.document(theirs, "quote")
    draft = factories.document(theirs, "invoice", draft=True)
    for path in (f"/admin/documents/{invoice.id}", f"/admin/invoices/{invoice.id}", f"/admin/documents/{draft.id}/edit",
                 f"/admin/documents/{invoice.id}/credit-note", f"/admin/customers/{theirs.id}/documents/new?kind=quote",
                 f"/admin/customers/{theirs.id}/reminders/new"):
        assert employee_client.get(path).status_code == 404, path
    for path, data in ((f"/admin/documents/{invoice.id}/payments", {"amount": "121.00", "received_on": str(today),
                                                                   "method": "cash"}),
                       (f"/admin/documents/{invoice.id}/cancel", {"confirm": "1"}),
                       (f"/admin/documents/{invoice.id}/write-off", {"confirm": "1"}),
                       (f"/admin/documents/{draft.id}/issue", {}),
                       (f"/admin/documents/{draft.id}/delete", {"confirm": "1"}),
                       (f"/admin/documents/{quote.id}/decision", {"decision": "accept", "name": "Eli"}),
                       (f"/admin/documents/{invoice.id}/release", {"released": "0"})):
        assert employee_client.post(path, data=data).status_code == 404, path
    with app.app_context():
        assert db.session.get(Document, invoice.id).status == DocumentStatus.open
        assert db.session.get(Document, invoice.id).released_to_portal
        assert db.session.get(Document, draft.id).status == DocumentStatus.draft
        assert db.session.get(Document, quote.id).status == DocumentStatus.pending
        assert db.session.scalar(select(func.count()).select_from(Payment)) == 0
    # their own customer's documents they work on as anyone
    own = factories.invoice(mine)
    soup = followed(employee_client, record(employee_client, own.id, "21.00", today))
    assert status(soup) == "partially paid"


# --- the page's cost does not grow with its lines, payments or invoices ------------------------


def _invoice_with(app, customer, lines: int, payments: int) -> int:
    """An invoice with `lines` lines and `payments` recorded payments (bulk inserted)."""
    from models.services import documents as document_service

    with app.app_context():
        invoice = document_service.create_document(
            None, db.session.get(Customer, customer.id), DocumentKind.invoice,
            issue_date=clock.today() - timedelta(days=30), due_date=clock.today() - timedelta(days=16), currency="EUR",
            lines=[document_service.LineInput(f"Line {n}", Decimal("1"), Decimal("1000.00"), Decimal("21"))
                   for n in range(lines)])
        db.session.commit()
        paid_at = now_utc() - timedelta(days=1)
        for n in range(payments):
            result = factories.write_directly(insert(Payment.__table__).returning(Payment.__table__.c.id), [{
                "customer_id": customer.id, "provider": "manual", "idempotency_key": f"p{invoice.id}-{n}",
                "amount": Decimal("1.00"), "currency": "EUR", "status": PaymentStatus.paid, "paid_at": paid_at,
                "booked_at": paid_at, "method": "cash", "created_at": paid_at}])
            factories.write_directly(insert(PaymentItem.__table__), [
                {"payment_id": result.scalar_one(), "document_id": invoice.id, "amount": Decimal("1.00")}])
        invoice.amount_paid = Decimal(payments)
        invoice.status = DocumentStatus.partially_paid if payments else DocumentStatus.open
        db.session.commit()
        return invoice.id


def _statements(app, client, path: str) -> int:
    client.get(path)  # warm up: what is done once per process is not the page's cost
    with count_queries(app) as statements:
        response = client.get(path)
    assert response.status_code == 200
    return len(statements)


# Staff member, the document joined with its customer, its lines, its payments, the documents
# made from it, then the invoice's customer credit or the reminder's items joined with their
# invoices, the question thread (any kind), the settings and the customer's dossier link (the
# portal box).
PINNED_PAGE = {"invoice": 9, "reminder": 9}


@pytest.mark.parametrize("kind", ["invoice", "reminder"])
def test_document_page_query_count_is_constant(app, owner_client, customer, kind):
    counts = {}
    for size in (1, 40):
        invoice_id = _invoice_with(app, customer, lines=size, payments=size)
        path = f"/admin/documents/{invoice_id}"
        if kind == "reminder":
            invoices = [factories.invoice(customer, due_in_days=-20) for _ in range(size)]
            with app.app_context():
                invoices.append(db.session.get(Document, invoice_id))
            reminder = factories.reminder(customer, invoices, fee="5.00")
            path = f"/admin/documents/{reminder.id}"
            soup = owner_client.soup(path)
            table = soup.find("caption", string="Invoices this reminder asks for").find_parent("table")
            assert len(table.tbody.find_all("tr")) == size + 1  # the page really shows what it is measured with
        else:
            soup = owner_client.soup(path)
            assert len(soup.find("table").tbody.find_all("tr")) == size
            assert len(payment_rows(soup)) == size
        counts[size] = _statements(app, owner_client, path)
    assert counts == {1: PINNED_PAGE[kind], 40: PINNED_PAGE[kind]}
