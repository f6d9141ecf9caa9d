"""The customer's own details, from the login (/portal/details) and from the dossier link
(/d/<token>/details): the same page and rules. Each change is saved, audited with the old
and new value, marks the customer for staff (the Attention filter) and is e-mailed to the
responsible staff member; bad input is refused at its field with the rest kept."""

from __future__ import annotations

import pytest

from models.customers import Customer
from models.db import db
from models.services import dossier as dossier_service
from models.services import master_data
from models.staff import StaffUser
from tests import factories
from tests.conftest import field_error, input_value, soup_of
from tests.master_data.conftest import (
    VALID_IBAN,
    codes,
    VALID_VAT,
    dossier_entry,
    events,
    flashes,
    fresh_messages,
    outbox,
    portal_entry,
    section,
    set_settings,
    stored,
)

CONTACT = {"contact-email": "carla@example.com", "contact-phone": "+31 6 1234 5678", "contact-language": "en"}
ADDRESS = {"address-street": "Nieuwe Gracht 12", "address-postal_code": "3512 LT", "address-city": "Utrecht",
           "address-country": "NL"}
TAX = {"tax-vat_id": "nl 0044.95.445.B01", "tax-tax_number": "99-123"}


def changed_events(app, customer):
    return events(app, customer, master_data.CHANGED)


@pytest.mark.parametrize("path,data,expected", [
    ("/contact", CONTACT, {"phone": ["+31 20 555 0101", "+31 6 1234 5678"]}),
    ("/address", ADDRESS, {"street": ["Kerkstraat 1", "Nieuwe Gracht 12"], "postal_code": ["1017 GA", "3512 LT"],
                           "city": ["Amsterdam", "Utrecht"]}),
    ("/tax", TAX, {"vat_id": [None, VALID_VAT], "tax_number": [None, "99-123"]}),
], ids=["contact", "address", "tax"])
def test_each_group_is_saved_and_audited_from_both_entry_points(app, entry, customer, staff, path, data, expected):
    response = entry.post(path, data)
    assert response.status_code == 302, response.data[:600]
    assert response.headers["Location"].startswith(entry.base)
    page = entry.get()
    assert flashes(page) == ["Your details were saved."]

    record = stored(app, customer)
    for name, (_, new) in expected.items():
        assert getattr(record, name) == new
    [event] = changed_events(app, customer)
    assert event.changes == expected  # the old and the new value of exactly what changed
    label = "customer via portal login <carla.login@example.com>" if entry.name == "portal" else "customer via dossier link"
    assert event.actor_label == label
    assert record.changes_unconfirmed_at is not None and record.bank_unconfirmed is False

    # The assigned staff member is told, in one mail to them alone, with the old and new values.
    [mail] = outbox(app, "customer_details_changed")
    assert mail.to_address == staff.email and mail.customer_id is None
    assert mail.context["changes"] == [[name, old or "", new or ""] for name, (old, new) in expected.items()]


def test_the_page_shows_the_stored_details_in_every_form(app, entry, customer):
    page = entry.get()
    assert page.find("h1").get_text(strip=True) == "Your details"
    assert input_value(page, "E-mail address") == "carla@example.com"
    assert input_value(page, "Phone") == "+31 20 555 0101"
    assert input_value(page, "Street and number") == "Kerkstraat 1"
    assert input_value(page, "Country") == "NL"
    assert not input_value(page, "IBAN")  # a new IBAN is typed in full; the stored one is masked
    assert "NL•• •••• 6789" in section(page, "Bank details").get_text(" ")
    assert "NL02RABO0123456789" not in page.get_text(" ")


def test_saving_unchanged_details_records_nothing(app, entry, customer):
    response = entry.post("/address", {**ADDRESS, "address-street": "Kerkstraat 1", "address-postal_code": "1017 GA",
                                       "address-city": "Amsterdam"})
    assert response.status_code == 302
    assert flashes(entry.get()) == ["Nothing was changed."]
    assert changed_events(app, customer) == [] and outbox(app, "customer_details_changed") == []
    assert stored(app, customer).changes_unconfirmed_at is None


@pytest.mark.parametrize("path,data,label,message", [
    ("/tax", {**TAX, "tax-vat_id": "NL123456789B01"}, "VAT ID",
     "This is not a valid VAT id. Enter it with its country code, e.g. NL123456789B01."),
    ("/tax", {**TAX, "tax-vat_id": "123456789"}, "VAT ID",
     "This is not a valid VAT id. Enter it with its country code, e.g. NL123456789B01."),
    ("/bank", {"bank-iban": "NL91ABNA0417164301", "bank-bic": "", "bank-bank_holder": "Carla C."}, "IBAN",
     "This is not a valid IBAN."),
    ("/bank", {"bank-iban": VALID_IBAN, "bank-bic": "NOTABIC", "bank-bank_holder": "Carla C."}, "BIC (optional)",
     "This is not a valid BIC."),
    ("/bank", {"bank-iban": VALID_IBAN, "bank-bic": "", "bank-bank_holder": ""}, "Account holder",
     "Enter the name of the account holder."),
    ("/contact", {**CONTACT, "contact-email": "not an address"}, "E-mail address", "Enter a valid e-mail address."),
    ("/contact", {**CONTACT, "contact-phone": "call me maybe"}, "Phone", "Use digits, spaces and + ( ) - only."),
    ("/address", {**ADDRESS, "address-country": "XX"}, "Country", "Choose one of the options."),
], ids=["vat checksum", "vat without country", "iban checksum", "bic", "holder", "email", "phone", "country"])
def test_bad_input_is_refused_at_its_field_with_the_rest_kept(app, entry, customer, path, data, label, message):
    response = entry.post(path, data)
    assert response.status_code == 422
    page = soup_of(response)
    assert field_error(page, label) == message
    # What was typed stays in the form (the posted group), nothing is saved or sent.
    for name, value in data.items():
        if name.endswith(("-country", "-language")):  # selects: the option stays selected
            continue
        other = page.find(attrs={"name": name})
        assert other is not None and (other.get("value") or "") == value, name
    assert changed_events(app, customer) == [] and codes(app, customer) == []
    assert outbox(app, "customer_details_changed") == [] and outbox(app, "customer_email_confirm") == []
    record = stored(app, customer)
    assert (record.vat_id, record.iban, record.phone, record.country) == (None, "NL02RABO0123456789",
                                                                           "+31 20 555 0101", "NL")


def test_a_vat_id_of_a_country_outside_the_eu_is_checked_too(app, entry, customer):
    assert entry.post("/tax", {**TAX, "tax-vat_id": "CHE-107.787.577 MWST"}).status_code == 302
    assert stored(app, customer).vat_id == "CHE107787577MWST"
    assert entry.post("/tax", {**TAX, "tax-vat_id": "CHE-107.787.578 MWST"}).status_code == 422


def test_the_primary_address_cannot_be_emptied(app, entry, customer):
    response = entry.post("/contact", {**CONTACT, "contact-email": ""})
    assert response.status_code == 422
    assert field_error(soup_of(response), "E-mail address") == "Enter an e-mail address: we send your invoices there."
    assert stored(app, customer).email == "carla@example.com"


@pytest.mark.parametrize("group,path,heading", [
    ("contact", "/contact", "Contact details"), ("address", "/address", "Postal address"),
    ("bank", "/bank", "Bank details"), ("tax", "/tax", "Tax details"),
])
def test_a_group_the_settings_switch_off_is_shown_but_not_offered(app, entry, customer, group, path, heading):
    set_settings(app, **{f"customer_edits_{group}": False})
    page = entry.get()
    part = section(page, heading)
    assert part.find("form") is None
    assert "To change these, please contact us." in part.get_text(" ")
    assert len(page.find_all("form", action=lambda a: a and "/details/" in a)) == 3  # the other groups
    before = stored(app, customer)
    data = {"contact": CONTACT, "address": ADDRESS, "bank": {"bank-iban": VALID_IBAN, "bank-bank_holder": "X"},
            "tax": TAX}[group]
    assert entry.post(path, data).status_code == 404
    after = stored(app, customer)
    assert (after.phone, after.street, after.iban, after.vat_id) == (before.phone, before.street, before.iban,
                                                                     before.vat_id)
    assert changed_events(app, customer) == [] and codes(app, customer) == []
    assert outbox(app, "customer_details_changed") == [] and outbox(app, "customer_email_confirm") == []


def test_without_an_assigned_active_staff_member_the_owner_is_told(app, customer, owner, staff):
    with app.app_context():
        db.session.get(StaffUser, staff.id).active = False
        db.session.commit()
    entry = dossier_entry(app, customer)
    assert entry.post("/address", ADDRESS).status_code == 302
    [mail] = outbox(app, "customer_details_changed")
    assert mail.to_address == owner.email


def test_the_staff_mail_names_the_changes_and_links_to_the_customer(app, customer, staff, sink):
    entry = dossier_entry(app, customer)
    entry.post("/tax", TAX)
    [mail] = fresh_messages(app, sink)
    assert mail.to == [staff.email] and mail.cc == []
    assert mail.subject == f"Customer {customer.number} changed their details"
    assert "Carla Customer" in mail.text and f"VAT ID: — → {VALID_VAT}" in mail.text
    assert f"https://dossier.example/admin/customers/{customer.id}/info" in mail.text


# --- who may reach whose details -------------------------------------------------------------------


def test_a_login_changes_only_its_open_account(app, customer):
    other = factories.customer(name="Otto Other", email="otto@example.com", street="Otterweg 2", language="en")
    entry = portal_entry(app, customer)
    # A customer id in the form or the URL is no way to another customer: the session decides.
    response = entry.client.post(f"/portal/details/address?customer_id={other.id}",
                                 data={**ADDRESS, "customer_id": other.id, "csrf_token": entry.token()})
    assert response.status_code == 302
    assert stored(app, other).street == "Otterweg 2" and stored(app, customer).street == "Nieuwe Gracht 12"
    assert "Otto Other" not in entry.client.get("/portal/details").get_data(as_text=True)


@pytest.mark.parametrize("path", ["", "/contact", "/address", "/bank", "/bank/confirm", "/tax"])
def test_an_unknown_revoked_or_rotated_link_gets_404(app, customer, owner, path):
    entry = dossier_entry(app, customer)
    token = entry.token()
    old = entry.dossier
    with app.app_context():
        dossier_service.rotate(db.session.get(StaffUser, owner.id), db.session.get(Customer, customer.id))
        db.session.commit()
    for base in (old, "/d/" + "A" * 22 + "." + "A" * 22):
        method = entry.client.get if path == "" else entry.client.post
        response = method(f"{base}/details{path}", data=None if path == "" else {**ADDRESS, "csrf_token": token})
        assert response.status_code == 404
    assert stored(app, customer).street == "Kerkstraat 1"


def test_the_login_page_asks_for_a_login(app, client, customer):
    response = client.get("/portal/details")
    assert response.status_code == 302 and response.headers["Location"].startswith("/portal/login")


def test_the_dossier_details_ask_the_check_first(app, customer):
    set_settings(app, dossier_check="postal_code")
    entry = dossier_entry(app, customer)
    response = entry.client.get(entry.base)
    assert response.status_code == 302 and response.headers["Location"] == entry.dossier


def test_the_history_on_the_info_tab_says_changed_by_the_customer(app, customer, owner_client):
    dossier_entry(app, customer).post("/address", ADDRESS)
    soup = owner_client.soup(f"/admin/customers/{customer.id}/info")
    history = soup.find(id="history-h").find_parent("section")
    row = history.find("tbody").find("tr")
    cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
    assert cells[1:3] == ["customer via dossier link", "Changed by the customer"]
    assert "street : Kerkstraat 1 → Nieuwe Gracht 12" in cells[3]


def test_the_pages_are_linked_from_the_portal_and_the_dossier(app, customer):
    portal = portal_entry(app, customer)
    home = soup_of(portal.client.get("/portal/", headers={"Accept-Language": "en"}))
    nav = home.find("nav", attrs={"aria-label": "Portal"})
    assert nav.find("a", string="Your details")["href"] == "/portal/details"
    link = dossier_entry(app, customer)
    page = soup_of(link.client.get(link.dossier, headers={"Accept-Language": "en"}))
    assert page.find("a", string="Your details")["href"] == link.base
    assert page.find("a", string="Contact persons")["href"] == f"{link.dossier}/contacts"
