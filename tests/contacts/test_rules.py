"""Each rule of models.services.contacts, exercised through the admin routes (CSRF on, real DB).

A refused add or update answers 422 with the message next to the field of the open form row
(as the page shows it: by label), the typed values kept, and nothing saved or lost. Most
rules are checked without JavaScript (the full Info tab comes back) and with HTMX (only the
row comes back); both render the same form row.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import db
from tests.conftest import field_error, input_value, soup_of
from tests.contacts.conftest import (
    add_contacts, contacts, counter_text, edit_data, form_row, hx, new_data, portal_login, row_errors,
)

OWNER_LABEL = "Olga Owner <owner@example.test>"


def base(customer) -> str:
    return f"/admin/customers/{customer.id}/contacts"


def post_new(client, customer, mode: str, **values):
    """Add a contact as the page does: a plain form post, or the HTMX post of the row."""
    data = new_data(**values)
    if mode == "htmx":
        return hx(client, "POST", base(customer), data)
    return client.post(base(customer), data)


def refused_row(response, contact_id: int | None = None):
    """The form row of a refused save: 422, and the row is there in both answers."""
    assert response.status_code == 422, (response.status_code, response.data[:800])
    return form_row(soup_of(response), contact_id)


MODES = pytest.mark.parametrize("mode", ["plain", "htmx"])


# --- name ------------------------------------------------------------------------------

@MODES
@pytest.mark.parametrize("name", ["", "   "])
def test_name_is_required(app, owner_client, customer, mode, name):
    response = post_new(owner_client, customer, mode, name=name, email="nina@partner.example", phone="020 123")
    row = refused_row(response)
    assert field_error(row, "Name") == "Enter a name."
    assert field_error(row, "E-mail address") is None
    assert input_value(row, "E-mail address") == "nina@partner.example"
    assert input_value(row, "Phone (optional)") == "020 123"
    assert contacts(app, customer) == []


def test_name_is_stored_trimmed(app, owner_client, customer):
    assert owner_client.post(base(customer), new_data(name="  Nina Noord  ")).status_code == 302
    assert [c["name"] for c in contacts(app, customer)] == ["Nina Noord"]


# --- e-mail address ----------------------------------------------------------------------

@MODES
@pytest.mark.parametrize("email", ["not-an-address", "nina@", "@partner.example", "nina@partner",
                                   "nina@@partner.example", "nina@partner..example", "nina partner@example.com"])
def test_invalid_email_is_refused(app, owner_client, customer, mode, email):
    row = refused_row(post_new(owner_client, customer, mode, name="Nina Noord", email=email))
    assert field_error(row, "E-mail address") == "Enter a valid e-mail address."
    assert input_value(row, "E-mail address") == email
    assert input_value(row, "Name") == "Nina Noord"
    assert contacts(app, customer) == []


def test_email_is_required(app, owner_client, customer):
    row = refused_row(post_new(owner_client, customer, "plain", email=""))
    assert field_error(row, "E-mail address") == "Enter an e-mail address."
    assert contacts(app, customer) == []


@pytest.mark.parametrize("label, values", [("Name", {"name": "Nina\x00"}), ("E-mail address", {"email": "ni\x00na@partner.example"}),
                                           ("Phone (optional)", {"phone": "020\x00"})])
def test_nul_characters_are_refused_next_to_the_field(app, owner_client, customer, label, values):
    """PostgreSQL cannot store them: a message, never a 500."""
    row = refused_row(post_new(owner_client, customer, "plain", **values))
    assert field_error(row, label).startswith("This contains a character that cannot be saved.")
    assert contacts(app, customer) == []


@MODES
@pytest.mark.parametrize("typed", ["person01@contacts.example", "PERSON01@Contacts.Example", "Person01@CONTACTS.EXAMPLE"])
def test_duplicate_email_of_the_customer_is_refused_ignoring_case(app, owner_client, customer, mode, typed):
    add_contacts(app, customer, 1)
    row = refused_row(post_new(owner_client, customer, mode, name="Someone Else", email=typed))
    assert field_error(row, "E-mail address") == "A contact person with this address exists already."
    assert input_value(row, "E-mail address") == typed
    assert len(contacts(app, customer)) == 1


def test_same_address_is_fine_at_another_customer(app, owner_client, customer, other_customer):
    add_contacts(app, other_customer, 1)
    assert owner_client.post(base(customer), new_data(email="person01@contacts.example")).status_code == 302
    assert [c["email"] for c in contacts(app, customer)] == ["person01@contacts.example"]


@MODES
def test_duplicate_email_is_refused_on_update_too(app, owner_client, customer, mode):
    first, second = add_contacts(app, customer, 2)
    before = contacts(app, customer)
    data = edit_data(second, name="Renamed", email="PERSON01@contacts.EXAMPLE", phone="+31 20 555")
    url = f"{base(customer)}/{second}"
    response = hx(owner_client, "POST", url, data) if mode == "htmx" else owner_client.post(url, data)
    row = refused_row(response, second)
    assert field_error(row, "E-mail address") == "A contact person with this address exists already."
    # what was typed stays in the form, what was saved stays saved
    assert input_value(row, "Name") == "Renamed"
    assert input_value(row, "E-mail address") == "PERSON01@contacts.EXAMPLE"
    assert input_value(row, "Phone (optional)") == "+31 20 555"
    assert contacts(app, customer) == before


def test_a_contact_may_keep_or_recase_its_own_address(app, owner_client, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    response = owner_client.post(f"{base(customer)}/{contact_id}",
                                 edit_data(contact_id, name="Person 01", email="Person01@contacts.example"))
    assert response.status_code == 302
    assert contacts(app, customer)[0]["email"] == "Person01@contacts.example"


OWN_ADDRESS = "This is the customer's own address; it already receives every e-mail."


@MODES
@pytest.mark.parametrize("typed", ["billing@acme.example", "Billing@ACME.example", "BILLING@acme.EXAMPLE"])
def test_customers_own_address_is_refused(app, owner_client, customer, mode, typed):
    row = refused_row(post_new(owner_client, customer, mode, email=typed))
    assert field_error(row, "E-mail address") == OWN_ADDRESS
    assert "already receives every e-mail" in row.get_text(" ")
    assert contacts(app, customer) == []


def test_customers_own_address_is_refused_on_update(app, owner_client, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    before = contacts(app, customer)
    row = refused_row(owner_client.post(f"{base(customer)}/{contact_id}",
                                        edit_data(contact_id, name="Person 01", email="BILLING@acme.example")),
                      contact_id)
    assert field_error(row, "E-mail address") == OWN_ADDRESS
    assert contacts(app, customer) == before


# --- lengths -----------------------------------------------------------------------------

def test_inputs_announce_their_maximum_length(owner_client, customer):
    row = form_row(owner_client.soup(f"{base(customer)}/new"))
    assert row.find(id="new-name")["maxlength"] == "120"
    assert row.find(id="new-email")["maxlength"] == "254"
    assert row.find(id="new-phone")["maxlength"] == "40"


@MODES
@pytest.mark.parametrize("label, values, limit", [
    ("Name", {"name": "N" * 121}, 120),
    ("Phone (optional)", {"phone": "1" * 41}, 40),
    ("E-mail address", {"email": "n" * 64 + "@" + ".".join(["d" * 60] * 3) + ".example" + "x" * 7}, 254),
])
def test_lengths_are_bounded(app, owner_client, customer, mode, label, values, limit):
    row = refused_row(post_new(owner_client, customer, mode, **values))
    assert f"Field cannot be longer than {limit} characters." in field_error(row, label)
    assert contacts(app, customer) == []


def test_the_longest_allowed_values_are_stored_whole(app, owner_client, customer):
    email = "n" * 64 + "@" + "d" * 60 + ".example"
    response = owner_client.post(base(customer), new_data(name="N" * 120, phone="1" * 40, email=email))
    assert response.status_code == 302
    (saved,) = contacts(app, customer)
    assert (saved["name"], saved["phone"], saved["email"]) == ("N" * 120, "1" * 40, email)


# --- the maximum of 10 ---------------------------------------------------------------------

MAXIMUM = "This customer has 10 contact persons, the maximum."


@MODES
def test_the_eleventh_contact_is_refused(app, owner_client, customer, mode):
    add_contacts(app, customer, 10)
    before = contacts(app, customer)
    response = post_new(owner_client, customer, mode, name="Eleventh Person", email="eleven@partner.example")
    row = refused_row(response)
    assert MAXIMUM in row_errors(row)
    assert input_value(row, "Name") == "Eleventh Person"
    assert input_value(row, "E-mail address") == "eleven@partner.example"
    assert contacts(app, customer) == before
    with app.app_context():  # nothing recorded either
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "contact.added")) is None
    if mode == "plain":
        assert counter_text(soup_of(response)) == "10 of 10 contacts added"


def test_the_tenth_contact_is_accepted(app, owner_client, customer):
    add_contacts(app, customer, 9)
    assert owner_client.post(base(customer), new_data()).status_code == 302
    assert len(contacts(app, customer)) == 10


def test_the_maximum_is_per_customer(app, owner_client, customer, other_customer):
    add_contacts(app, other_customer, 10)
    assert owner_client.post(base(customer), new_data()).status_code == 302
    assert len(contacts(app, customer)) == 1


def test_at_the_maximum_existing_contacts_can_still_be_edited(app, owner_client, customer):
    ids = add_contacts(app, customer, 10)
    response = owner_client.post(f"{base(customer)}/{ids[0]}", edit_data(ids[0], name="Still Editable",
                                                                         email="person01@contacts.example"))
    assert response.status_code == 302
    assert contacts(app, customer)[0]["name"] == "Still Editable"


# --- phone, role, subscriptions ------------------------------------------------------------

def test_phone_is_optional(app, owner_client, customer):
    assert owner_client.post(base(customer), new_data(phone="")).status_code == 302
    assert contacts(app, customer)[0]["phone"] is None
    assert owner_client.post(base(customer), new_data(email="two@partner.example", phone="   ")).status_code == 302
    assert contacts(app, customer)[1]["phone"] is None


def test_phone_is_stored_and_shown(app, owner_client, customer):
    assert owner_client.post(base(customer), new_data(phone="+31 (0)20-123 45.67")).status_code == 302
    (saved,) = contacts(app, customer)
    assert saved["phone"] == "+31 (0)20-123 45.67"
    row = owner_client.soup(base(customer)).find("tr", id=f"contact-{saved['id']}")
    assert "+31 (0)20-123 45.67" in row.get_text(" ")


@MODES
def test_phone_with_letters_is_refused(app, owner_client, customer, mode):
    row = refused_row(post_new(owner_client, customer, mode, phone="call me maybe"))
    assert field_error(row, "Phone (optional)") == "Use digits, spaces and + ( ) - only."
    assert input_value(row, "Phone (optional)") == "call me maybe"
    assert contacts(app, customer) == []


@pytest.mark.parametrize("role, invoice, account", [
    ("accountant", False, True), ("billing", True, True), ("technical", False, False), ("general", True, False),
])
def test_role_and_both_subscriptions_are_saved(app, owner_client, customer, role, invoice, account):
    response = owner_client.post(base(customer), new_data(role=role, invoice=invoice, account=account))
    assert response.status_code == 302
    (saved,) = contacts(app, customer)
    assert (saved["role"], saved["invoice_emails"], saved["account_emails"]) == (role, invoice, account)
    # and the edit form shows them again
    row = form_row(owner_client.soup(f"{base(customer)}/{saved['id']}/edit"), saved["id"])
    assert input_value(row, "Role") == role
    assert row.find(id=f"c{saved['id']}-invoice_emails").has_attr("checked") is invoice
    assert row.find(id=f"c{saved['id']}-account_emails").has_attr("checked") is account


def test_role_and_subscriptions_change_on_update(app, owner_client, customer):
    (contact_id,) = add_contacts(app, customer, 1)  # general, invoice e-mails only
    response = owner_client.post(f"{base(customer)}/{contact_id}", edit_data(
        contact_id, name="Person 01", email="person01@contacts.example", role="manager", invoice=False, account=True))
    assert response.status_code == 302
    saved = contacts(app, customer)[0]
    assert (saved["role"], saved["invoice_emails"], saved["account_emails"]) == ("manager", False, True)


def test_unknown_role_is_refused(app, owner_client, customer):
    row = refused_row(post_new(owner_client, customer, "plain", role="boss"))
    assert field_error(row, "Role") == "Not a valid choice."
    assert contacts(app, customer) == []


# --- a failed update loses nothing -------------------------------------------------------------

@MODES
def test_failed_update_keeps_the_typed_values_and_the_saved_contact(app, owner_client, customer, mode):
    (contact_id,) = add_contacts(app, customer, 1, phone="020 111")
    before = contacts(app, customer)
    data = edit_data(contact_id, name="", email="not valid", phone="030 222", role="support", invoice=False,
                     account=True)
    url = f"{base(customer)}/{contact_id}"
    row = refused_row(hx(owner_client, "POST", url, data) if mode == "htmx" else owner_client.post(url, data),
                      contact_id)
    assert field_error(row, "Name") == "Enter a name."
    assert field_error(row, "E-mail address") == "Enter a valid e-mail address."
    assert input_value(row, "E-mail address") == "not valid"
    assert input_value(row, "Phone (optional)") == "030 222"
    assert input_value(row, "Role") == "support"
    assert not row.find(id=f"c{contact_id}-invoice_emails").has_attr("checked")
    assert row.find(id=f"c{contact_id}-account_emails").has_attr("checked")
    assert contacts(app, customer) == before
    # the saved row is still what the list shows
    shown = owner_client.soup(base(customer)).find("tr", id=f"contact-{contact_id}").get_text(" ", strip=True)
    assert "Person 01" in shown and "person01@contacts.example" in shown and "020 111" in shown


def test_refused_add_on_the_full_page_keeps_the_other_contacts(app, owner_client, customer):
    ids = add_contacts(app, customer, 2)
    response = owner_client.post(base(customer), new_data(email="bad"))
    soup = soup_of(response)
    assert response.status_code == 422
    assert all(soup.find("tr", id=f"contact-{i}") is not None for i in ids)
    assert counter_text(soup) == "2 of 10 contacts added"


# --- audit trail, visible in the Info tab ------------------------------------------------------

def history(client, customer) -> list[list[str]]:
    """The Info tab's History rows as [when, who, what, changes] texts, newest first."""
    soup = client.soup(f"/admin/customers/{customer.id}/info")
    heading = soup.find("h2", string="History")
    table = heading.find_parent("section").find("table")
    return [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in table.tbody.find_all("tr")]


def test_admin_changes_are_recorded_with_the_staff_member(app, owner_client, customer, owner):
    assert owner_client.post(base(customer), new_data(name="Nina Noord", email="nina@partner.example")).status_code == 302
    (saved,) = contacts(app, customer)
    url = f"{base(customer)}/{saved['id']}"
    assert owner_client.post(url, edit_data(saved["id"], name="Nina Noorder", email="nina@partner.example",
                                            role="billing")).status_code == 302
    assert owner_client.post(f"{url}/remove").status_code == 302

    rows = history(owner_client, customer)
    assert [r[1:3] for r in rows[:3]] == [
        [OWNER_LABEL, "Contact person removed"],
        [OWNER_LABEL, "Contact person updated"],
        [OWNER_LABEL, "Contact person added"],
    ]
    removed, updated, added = (r[3] for r in rows[:3])
    assert "name : Nina Noorder → —" in removed and "email : nina@partner.example → —" in removed
    assert "name : Nina Noord → Nina Noorder" in updated and "role : general → billing" in updated
    assert "email" not in updated  # unchanged fields are not listed
    assert "name : — → Nina Noord" in added and "email : — → nina@partner.example" in added
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "contact_person")).all()
        assert {(e.actor_staff_id, e.customer_id, e.entity_id) for e in events} == {(owner.id, customer.id, saved["id"])}


def test_an_update_that_changes_nothing_records_nothing(app, owner_client, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    response = owner_client.post(f"{base(customer)}/{contact_id}",
                                 edit_data(contact_id, name="Person 01", email="person01@contacts.example"))
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "contact.updated")) is None


def test_refused_changes_record_nothing(app, owner_client, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    assert owner_client.post(base(customer), new_data(email="bad")).status_code == 422
    assert owner_client.post(f"{base(customer)}/{contact_id}", edit_data(contact_id, name="")).status_code == 422
    with app.app_context():
        assert db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "contact_person")).all() == []


def test_portal_changes_are_recorded_with_the_portal_login(app, owner_client, customer):
    portal = portal_login(app, customer, "pat@acme.example")
    assert portal.post("/portal/contacts", new_data(name="Nina Noord", email="nina@partner.example")).status_code == 302
    (saved,) = contacts(app, customer)
    assert portal.post(f"/portal/contacts/{saved['id']}",
                       edit_data(saved["id"], name="Nina Noorder", email="nina@partner.example")).status_code == 302
    assert portal.post(f"/portal/contacts/{saved['id']}/remove").status_code == 302

    rows = history(owner_client, customer)[:3]
    assert [r[2] for r in rows] == ["Contact person removed", "Contact person updated", "Contact person added"]
    for row in rows:
        assert row[1] == "system"  # no staff member acted ...
        assert "by portal login : — → pat@acme.example" in row[3]  # ... the changes name the login
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "contact_person")).all()
        assert len(events) == 3 and all(e.actor_staff_id is None for e in events)
