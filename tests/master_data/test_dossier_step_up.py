"""From a dossier link (no login) changing who receives what (contact persons) and asking
for an instalment plan need the one-time code sent to the customer's primary address: a
contact person in CC holds the link too. A code entered once serves this browser session
for 15 minutes."""

from __future__ import annotations


import pytest
from sqlalchemy import select

from models.contacts import ContactPerson
from models.db import db
from models.instalments import InstalmentPlan
from portal import dossier_verify
from tests import factories
from tests.conftest import field_error, soup_of
from tests.mailers.conftest import add_contact
from tests.master_data.conftest import (
    ENGLISH,
    code_in,
    dossier_path,
    events,
    flashes,
    form_token,
    fresh_messages,
    mint_latest_code,
    step_up,
)
from models import clock

NEW_CONTACT = {"new-name": "Bea Bookkeeper", "new-email": "bea@example.com", "new-role": "accountant",
               "new-invoice_emails": "y"}


def contacts_of(app, customer) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(ContactPerson.email).where(ContactPerson.customer_id == customer.id)
                                       .order_by(ContactPerson.email)))


def plans_of(app, customer) -> list[InstalmentPlan]:
    with app.app_context():
        plans = list(db.session.scalars(select(InstalmentPlan).where(InstalmentPlan.customer_id == customer.id)))
        db.session.expunge_all()
        return plans


@pytest.fixture
def link(app, customer):
    return dossier_path(app, customer)


def test_contacts_from_the_link_need_the_code_sent_to_the_primary_address_only(app, client, customer, link, sink):
    add_contact(app, customer.id, "cc.colleague@example.com", invoice=True, account=True)
    response = client.get(f"{link}/contacts")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{link}/verify?next={link}/contacts"
    page = soup_of(client.get(response.headers["Location"], headers=ENGLISH))
    assert page.find("h1").get_text(strip=True) == "Confirm it is you"
    assert "We send the code to c•••@example.com." in page.get_text(" ")
    token = form_token(page)
    # Without the code a change is refused: the colleague in CC cannot add or unsubscribe anyone.
    response = client.post(f"{link}/contacts", data={**NEW_CONTACT, "csrf_token": token})
    assert response.status_code == 302 and "/verify" in response.headers["Location"]
    assert contacts_of(app, customer) == ["cc.colleague@example.com"]

    assert client.post(f"{link}/verify/send?next={link}/contacts", data={"csrf_token": token}).status_code == 302
    [mail] = fresh_messages(app, sink)
    assert mail.to == ["carla@example.com"] and mail.cc == [] and mail.rcpt_tos == ["carla@example.com"]
    assert "To change your contact persons or ask for an instalment plan at My business" in mail.text
    response = client.post(f"{link}/verify?next={link}/contacts", data={"csrf_token": token, "code": code_in(mail)})
    assert response.status_code == 302 and response.headers["Location"] == f"{link}/contacts"

    page = soup_of(client.get(f"{link}/contacts", headers=ENGLISH))
    assert page.find("h1").get_text(strip=True) == "Contact persons of Carla Customer"
    response = client.post(f"{link}/contacts", data={**NEW_CONTACT, "csrf_token": token})
    assert response.status_code == 302
    assert contacts_of(app, customer) == ["bea@example.com", "cc.colleague@example.com"]
    [event] = events(app, customer, "contact.added")
    assert event.actor_label == "customer via dossier link (with a code)"


def test_a_wrong_code_changes_nothing_and_five_wrong_tries_lock_it(app, client, customer, link):
    page = soup_of(client.get(f"{link}/verify", headers=ENGLISH))
    token = form_token(page)
    client.post(f"{link}/verify/send", data={"csrf_token": token})
    code = mint_latest_code(app)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        response = client.post(f"{link}/verify", data={"csrf_token": token, "code": wrong}, headers=ENGLISH)
        assert response.status_code == 422
    assert field_error(soup_of(response), "Code from the e-mail") == \
        "This code was entered wrongly too often and no longer works. Ask for a new code."
    assert client.post(f"{link}/verify", data={"csrf_token": token, "code": code}).status_code == 422
    assert client.get(f"{link}/contacts").status_code == 302  # still not allowed


def test_the_code_serves_the_session_for_fifteen_minutes(app, client, customer, link, monkeypatch):
    assert step_up(app, client, link).status_code == 302
    assert client.get(f"{link}/contacts").status_code == 200
    other = app.test_client()  # another browser (the CC'd colleague) is not let in by it
    assert other.get(f"{link}/contacts").status_code == 302
    now = dossier_verify._now()
    monkeypatch.setattr(dossier_verify, "_now", lambda: now + 15 * 60 + 1)
    assert client.get(f"{link}/contacts").status_code == 302


def test_an_htmx_row_without_the_code_sends_the_whole_page_to_the_code(app, client, customer, link):
    contact_id = add_contact(app, customer.id, "cc.colleague@example.com")
    response = client.get(f"{link}/contacts/{contact_id}/edit", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith(f"{link}/verify?next=")


def test_another_customers_contact_is_not_found_with_the_code(app, client, customer, link):
    stranger = factories.customer(name="Stan Stranger", email="stan@example.com")
    theirs = add_contact(app, stranger.id, "stan.contact@example.com")
    step_up(app, client, link)
    token = form_token(soup_of(client.get(f"{link}/contacts")))
    assert client.get(f"{link}/contacts/{theirs}/edit").status_code == 404
    assert client.post(f"{link}/contacts/{theirs}/remove", data={"csrf_token": token}).status_code == 404
    assert contacts_of(app, stranger) == ["stan.contact@example.com"]


def test_an_instalment_plan_from_the_link_needs_the_code(app, client, customer, link):
    factories.invoice(customer, amount="100.00")
    page = soup_of(client.get(f"{link}/instalments", headers=ENGLISH))
    token = form_token(page)
    values = {"currency": "EUR", "count": "2", "start_date": clock.today().isoformat(), "csrf_token": token}
    response = client.post(f"{link}/instalments/preview", data=values)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{link}/verify?next={link}/instalments"
    confirm = {**values, "total": "121.00"}
    assert client.post(f"{link}/instalments/confirm", data=confirm).status_code == 302
    assert plans_of(app, customer) == []

    assert step_up(app, client, link, f"{link}/instalments").headers["Location"] == f"{link}/instalments"
    assert "Thank you. You can make changes for the next 15 minutes." in \
        flashes(soup_of(client.get(f"{link}/instalments", headers=ENGLISH)))
    assert client.post(f"{link}/instalments/preview", data=values).status_code == 200
    assert client.post(f"{link}/instalments/confirm", data=confirm).status_code == 302
    assert [plan.count for plan in plans_of(app, customer)] == [2]


def test_a_next_address_outside_the_link_is_not_followed(app, client, customer, link):
    response = step_up(app, client, link, "https://evil.example/")
    assert response.headers["Location"] == link
    other = dossier_path(app, factories.customer(name="Other", email="o@example.com"))
    response = step_up(app, app.test_client(), link, f"{other}/contacts")
    assert response.headers["Location"] == link


def test_without_a_primary_address_no_code_can_be_sent(app, client):
    customer = factories.customer(name="No Mail", email=None, language="en")
    link = dossier_path(app, customer)
    page = soup_of(client.get(f"{link}/verify", headers=ENGLISH))
    assert "We have no e-mail address for you, so we cannot send you a code." in page.get_text(" ")
    assert page.find("button", string="Send me a code") is None
