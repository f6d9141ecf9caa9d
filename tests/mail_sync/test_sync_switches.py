"""The SYNC switches and contact persons' further addresses, on the customer's E-mail sync
page: off means new mail is not stored (what is there stays); further addresses unique per
customer ignoring case; audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailers import mail_sync
from models.audit import AuditEvent
from models.contacts import ContactPerson
from models.db import db
from models.mailbox import ContactEmail, SyncedEmail
from tests import factories
from tests.conftest import soup_of
from tests.mail_sync.conftest import message


@pytest.fixture
def customer(app):
    return factories.customer(name="Dana Debtor", email="dana@debtor.example")


@pytest.fixture
def contact_id(app, customer):
    with app.app_context():
        contact = ContactPerson(customer_id=customer.id, name="Carl Contact", email="carl@debtor.example")
        db.session.add(contact)
        db.session.commit()
        return contact.id


def _page(owner_client, customer):
    return owner_client.soup(f"/admin/customers/{customer.id}/email-sync")


def _checked(soup, label: str) -> bool:
    node = soup.find("label", string=label)
    assert node is not None, label
    return soup.find(id=node["for"]).has_attr("checked")


def _form(soup) -> dict:
    """What the browser would send as the page stands."""
    form = soup.find("form", class_="stacked")
    data = {}
    for node in form.find_all("input"):
        if node.get("type") == "checkbox":
            if node.has_attr("checked"):
                data[node["name"]] = node["value"]
        elif node.get("name") and node.get("name") != "csrf_token":
            data[node["name"]] = node.get("value", "")
    return data


def test_further_addresses_are_added_unique_and_synced(app, owner_client, customer, contact_id, mailbox):
    url = f"/admin/customers/{customer.id}/email-sync"
    soup = _page(owner_client, customer)
    assert _checked(soup, "Sync dana@debtor.example") and _checked(soup, "Sync carl@debtor.example (receives the copies)")
    for taken in ("DANA@debtor.example", "Carl@Debtor.example"):
        response = owner_client.post(url, data={**_form(soup), f"add-{contact_id}": taken})
        assert response.status_code == 422
        label = soup_of(response).find("label", string="Add a further address for Carl Contact")
        assert soup_of(response).find(id=label["for"] + "-error").get_text(strip=True) == \
            "This address belongs to this customer already."
    response = owner_client.post(url, data={**_form(soup), f"add-{contact_id}": "Carl.Private@Mail.example"})
    assert response.status_code == 302
    soup = _page(owner_client, customer)
    assert _checked(soup, "Sync carl.private@mail.example")
    response = owner_client.post(url, data={**_form(soup), f"add-{contact_id}": "CARL.PRIVATE@mail.example"})
    assert response.status_code == 422  # once per customer, ignoring case
    # A contact person cannot take it either.
    response = owner_client.post(f"/admin/customers/{customer.id}/contacts", data={
        "new-name": "Copy Cat", "new-email": "carl.private@mail.example", "new-role": "general"})
    assert response.status_code == 422
    mailbox.append(message(sender="carl.private@mail.example", message_id="<p1@mail.example>").as_bytes())
    with app.app_context():
        assert mail_sync.run().stored == 1
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "email_sync.updated"))
        assert "carl.private@mail.example" in str(event.changes)


def test_switching_sync_off_stops_new_mail_and_keeps_the_old(app, owner_client, customer, contact_id, mailbox):
    mailbox.append(message(sender="dana@debtor.example", message_id="<before@x>").as_bytes())
    with app.app_context():
        assert mail_sync.run().stored == 1
    soup = _page(owner_client, customer)
    data = _form(soup)
    data.pop("customer-sync")
    assert owner_client.post(f"/admin/customers/{customer.id}/email-sync", data=data).status_code == 302
    soup = _page(owner_client, customer)
    assert not _checked(soup, "Sync dana@debtor.example")
    assert _checked(soup, "Sync carl@debtor.example (receives the copies)")
    mailbox.append(message(sender="dana@debtor.example", message_id="<after@x>").as_bytes())
    mailbox.append(message(sender="carl@debtor.example", message_id="<carl@x>").as_bytes())
    with app.app_context():
        report = mail_sync.run()
        assert (report.stored, report.not_synced) == (1, 1)
        stored = db.session.scalars(select(SyncedEmail.message_id).order_by(SyncedEmail.id)).all()
    assert stored == ["<before@x>", "<carl@x>"]


def test_a_further_address_is_removed(app, owner_client, customer, contact_id):
    with app.app_context():
        db.session.add(ContactEmail(customer_id=customer.id, contact_id=contact_id, email="old@mail.example"))
        db.session.commit()
    soup = _page(owner_client, customer)
    node = soup.find("label", string="Remove old@mail.example")
    data = {**_form(soup), soup.find(id=node["for"])["name"]: "y"}
    assert owner_client.post(f"/admin/customers/{customer.id}/email-sync", data=data).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(ContactEmail)) is None


def test_removing_a_contact_person_removes_their_further_addresses(app, owner_client, customer, contact_id):
    with app.app_context():
        db.session.add(ContactEmail(customer_id=customer.id, contact_id=contact_id, email="gone@mail.example"))
        db.session.commit()
    response = owner_client.post(f"/admin/customers/{customer.id}/contacts/{contact_id}/remove")
    assert response.status_code in (200, 302)
    with app.app_context():
        assert db.session.scalar(select(ContactEmail)) is None
