"""The documents part of the settings (owners and admins): the number prefix and the next
number of each kind (only upward, never onto a number that exists), which kinds customers
see in their dossier, what they may do there, and each kind's e-mail text with its
placeholders. Filled in through the settings page as a person does; bad input gets its
message next to the field and a 4xx."""

from __future__ import annotations


import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.counters import Counter
from models.db import db
from models.services import dossier
from models.services.settings import get_settings
from tests import factories
from tests.admin.test_portal_logins import form_data
from tests.conftest import field_error, input_value, soup_of
from models import clock

YEAR = clock.today().year


def settings_form(client):
    soup = client.soup("/admin/settings")
    return soup, soup.find("input", attrs={"type": "submit", "value": "Save settings"}).find_parent("form")


def name_of(soup, label_text: str) -> str:
    label = soup.find("label", string=lambda s: s and s.strip() == label_text)
    assert label is not None, f"no label {label_text!r}"
    return soup.find(id=label["for"])["name"]


def save(client, *, change: dict[str, str] | None = None, released: list[str] | None = None, untick: tuple = ()):
    """The settings form as the page has it, with fields changed by their label."""
    soup, form = settings_form(client)
    data = form_data(form)
    for label, value in (change or {}).items():
        data[name_of(soup, label)] = [value]
    if released is not None:
        data["released"] = released
    for label in untick:
        data.pop(name_of(soup, label), None)
    return client.post("/admin/settings", data=data)


def token_of(app, customer) -> str:
    with app.app_context():
        token = dossier.current_token(customer.id)
        db.session.commit()
        return token


def counter(app, kind: str) -> int | None:
    with app.app_context():
        return db.session.scalar(select(Counter.value).where(Counter.name == f"{kind}-{YEAR}"))


# --- numbers ----------------------------------------------------------------------------------


def test_the_page_shows_each_kinds_prefix_and_next_number(app, owner_client):
    factories.document(factories.customer(), "quote")  # Q-<year>-00001 is used
    soup = owner_client.soup("/admin/settings")
    assert input_value(soup, "Quote number prefix") == "Q-"
    assert input_value(soup, "Invoice number prefix") == ""
    assert input_value(soup, "Next quote number") == "2"
    assert input_value(soup, "Next credit note number") == "1"
    hint = soup.find(id=soup.find("label", string="Next quote number")["for"] + "-hint")
    assert f"Q-{YEAR}-00002" in hint.get_text()


def test_a_new_prefix_numbers_the_next_documents(app, owner_client):
    response = save(owner_client, change={"Quote number prefix": "OFF/", "Delivery note number prefix": "LS."})
    assert response.status_code == 302, field_error(soup_of(response), "Quote number prefix")
    customer = factories.customer()
    assert factories.document(customer, "quote").number == f"OFF/{YEAR}-00001"
    assert factories.document(customer, "delivery_note").number == f"LS.{YEAR}-00001"
    assert factories.document(customer, "order_confirmation").number == f"OC-{YEAR}-00001"  # unchanged


@pytest.mark.parametrize("prefix", ["ABCDEFGHIJK", "Q#", "Q 1", "Ö-"])
def test_a_bad_prefix_is_refused_at_its_field(app, owner_client, prefix):
    response = save(owner_client, change={"Quote number prefix": prefix})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Quote number prefix") == \
        "Use at most 10 letters, digits and - _ / . characters."
    with app.app_context():
        assert get_settings().prefix_for("quote") == "Q-"  # nothing saved


@pytest.mark.parametrize("label, prefix", [
    ("Credit note number prefix", ""),  # the invoices' prefix: CN 2026-00001 would be invoice 2026-00001's number
    ("Reminder number prefix", "Q-"),
    ("Reminder number prefix", " q- "),  # a prefix differing only in case or spaces is as confusing
])
def test_a_prefix_another_kind_uses_is_refused_at_its_field(app, owner_client, label, prefix):
    response = save(owner_client, change={label: prefix})
    assert response.status_code == 422
    assert field_error(soup_of(response), label) == \
        "Another kind of document already uses this prefix: give each kind its own, so no two documents share a number."
    with app.app_context():
        assert get_settings().prefix_for("credit_note") == "CN-"  # nothing saved
        assert get_settings().prefix_for("reminder") == "R-"


def test_the_next_number_can_be_raised(app, owner_client):
    customer = factories.customer()
    factories.document(customer, "quote")
    response = save(owner_client, change={"Next quote number": "500"})
    assert response.status_code == 302
    assert counter(app, "quote") == 499
    assert factories.document(customer, "quote").number == f"Q-{YEAR}-00500"
    assert input_value(owner_client.soup("/admin/settings"), "Next quote number") == "501"
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "settings.updated")
                                  .order_by(AuditEvent.id.desc()))
        assert event.changes["next_number_quote"] == [f"Q-{YEAR}-00002", f"Q-{YEAR}-00500"]
    # A kind never used this year starts where it is told to.
    assert save(owner_client, change={"Next credit note number": "7"}).status_code == 302
    assert counter(app, "credit_note") == 6


@pytest.mark.parametrize("typed", ["1,5", "five", "1.000"])
def test_a_next_number_that_is_no_whole_number_gets_that_message_alone(app, owner_client, typed):
    response = save(owner_client, change={"Next quote number": typed})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Next quote number") == "Not a valid integer value."


def test_the_next_number_never_goes_down(app, owner_client):
    customer = factories.customer()
    for _ in range(3):
        factories.document(customer, "quote")
    for wanted in ("3", "1"):
        response = save(owner_client, change={"Next quote number": wanted})
        assert response.status_code == 422
        assert field_error(soup_of(response), "Next quote number") == \
            f"Numbers up to Q-{YEAR}-00003 are already used: the next number can only be higher."
        assert input_value(soup_of(response), "Next quote number") == wanted  # what was typed stays
    assert counter(app, "quote") == 3
    response = save(owner_client, change={"Next quote number": "0"})
    assert response.status_code == 422 and field_error(soup_of(response), "Next quote number")


def test_the_next_number_never_lands_on_a_number_kept_from_elsewhere(app, owner_client):
    customer = factories.customer()
    with app.app_context():
        from decimal import Decimal

        from models.customers import Customer
        from models.documents import DocumentKind
        from models.services import documents

        documents.create_document(None, db.session.get(Customer, customer.id), DocumentKind.quote,
                                  issue_date=clock.today(), valid_until=clock.today(), currency="EUR",
                                  number=f"Q-{YEAR}-00040",
                                  lines=[documents.LineInput("Imported", Decimal("1"), Decimal("5"), Decimal("0"))])
        db.session.commit()
    response = save(owner_client, change={"Next quote number": "40"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Next quote number") == f"Q-{YEAR}-00040 already exists."
    # Nor does a new prefix lead onto one: "QQ-" + the next number 1 exists already.
    with app.app_context():
        documents.create_document(None, db.session.get(Customer, customer.id), DocumentKind.quote,
                                  issue_date=clock.today(), valid_until=clock.today(), currency="EUR",
                                  number=f"QQ-{YEAR}-00001",
                                  lines=[documents.LineInput("Imported", Decimal("1"), Decimal("5"), Decimal("0"))])
        db.session.commit()
    response = save(owner_client, change={"Quote number prefix": "QQ-"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Quote number prefix").startswith(f"QQ-{YEAR}-00001 already exists")
    assert save(owner_client, change={"Quote number prefix": "QQ-", "Next quote number": "2"}).status_code == 302


# --- the portal release ---------------------------------------------------------------------


def test_released_kinds_decide_what_the_dossier_shows(app, owner_client, client):
    customer = factories.customer(language="en")
    quote = factories.document(customer, "quote")
    invoice = factories.invoice(customer)
    token = token_of(app, customer)
    soup = owner_client.soup("/admin/settings")
    boxes = soup.find("legend", string="Documents customers see in their dossier").find_parent("fieldset")
    assert all(box.has_attr("checked") for box in boxes.find_all("input", type="checkbox"))

    everything_but_quotes = ["invoice", "reminder", "credit_note", "delivery_note", "order_confirmation"]
    assert save(owner_client, released=everything_but_quotes).status_code == 302
    assert client.get(f"/d/{token}/documents/{quote.id}").status_code == 404
    assert client.get(f"/d/{token}/documents/{invoice.id}").status_code == 200
    boxes = owner_client.soup("/admin/settings").find(
        "legend", string="Documents customers see in their dossier").find_parent("fieldset")
    assert [b["value"] for b in boxes.find_all("input", type="checkbox") if not b.has_attr("checked")] == ["quote"]

    assert save(owner_client, released=[*everything_but_quotes, "quote"]).status_code == 302
    assert client.get(f"/d/{token}/documents/{quote.id}").status_code == 200
    with app.app_context():
        assert get_settings().released_kinds is None  # every kind: kinds added later too


def test_customer_actions_are_switched_in_the_settings(app, owner_client, client):
    customer = factories.customer(language="en")
    quote = factories.document(customer, "quote")
    token = token_of(app, customer)
    response = save(owner_client, untick=("Customers can download documents as PDF",
                                          "Customers can accept or reject quotes",
                                          "Apply customer credit to new invoices automatically"))
    assert response.status_code == 302
    with app.app_context():
        settings = get_settings()
        assert (settings.allow_pdf_download, settings.allow_quote_decisions,
                settings.apply_credit_automatically) == (False, False, False)
        assert settings.allow_questions and settings.allow_payments  # the others stay
    assert client.get(f"/d/{token}/documents/{quote.id}/pdf").status_code == 404


# --- e-mail texts ------------------------------------------------------------------------------


def test_an_unknown_placeholder_is_refused_at_its_field(app, owner_client):
    response = save(owner_client, change={"Quote e-mail text": "Dear {customer}, see {document_url}"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Quote e-mail text") == (
        "Unknown placeholder {customer}. Use {customer_name}, {document_number}, {document_url}, {dossier_url}.")
    # What was typed stays (a textarea's first line break is not part of its value).
    assert input_value(soup_of(response), "Quote e-mail text").lstrip("\r\n") == "Dear {customer}, see {document_url}"
    with app.app_context():
        assert get_settings().mail_text_for("quote") is None


def test_an_e_mail_text_is_saved_and_emptied(app, owner_client):
    text = "Dear {customer_name},\nyour quote {document_number}: {document_url}\nAll of it: {dossier_url}"
    assert save(owner_client, change={"Quote e-mail text": text}).status_code == 302
    assert input_value(owner_client.soup("/admin/settings"), "Quote e-mail text").lstrip("\r\n") == text
    with app.app_context():
        assert get_settings().document_mail_texts == {"quote": text}
    assert save(owner_client, change={"Quote e-mail text": "  "}).status_code == 302
    with app.app_context():
        assert get_settings().mail_text_for("quote") is None


def test_only_managers_change_document_settings(app, employee_client):
    assert employee_client.get("/admin/settings").status_code == 403
    response = employee_client.post("/admin/settings", data={"business_name": "X", "default_currency": "EUR",
                                                            "prefix_quote": "HACK-", "next_number_quote": "900"})
    assert response.status_code == 403
    with app.app_context():
        assert get_settings().prefix_for("quote") == "Q-"
    assert counter(app, "quote") is None


def test_a_number_used_meanwhile_does_not_stop_other_settings_from_being_saved(app, owner_client):
    soup, form = settings_form(owner_client)
    data = form_data(form)  # the page says: next quote number 1
    factories.document(factories.customer(), "quote")  # ...and a colleague issues quote 1 meanwhile
    data[name_of(soup, "Business name")] = ["Renamed Business"]
    assert owner_client.post("/admin/settings", data=data).status_code == 302
    with app.app_context():
        assert get_settings().business_name == "Renamed Business"
    assert counter(app, "quote") == 1
