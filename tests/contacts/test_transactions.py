"""A contact change is all or nothing: the row and its audit event are written together by
the view's one commit, and a refused change leaves no trace (web.transaction)."""

from __future__ import annotations

from sqlalchemy import func, select

from models.audit import AuditEvent
from models.db import db
from models.dossier import DossierLink
from tests.contacts.conftest import add_contacts, contacts, edit_data, hx, new_data


def _audit_actions(app, customer) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.customer_id == customer.id).order_by(AuditEvent.id)))


def test_a_saved_change_writes_the_contact_and_its_audit_event(app, owner_client, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    data = edit_data(contact_id, name="Person 01", email="new.address@contacts.example")
    response = hx(owner_client, "POST", f"/admin/customers/{customer.id}/contacts/{contact_id}", data)
    assert response.status_code == 200
    assert contacts(app, customer)[0]["email"] == "new.address@contacts.example"
    assert _audit_actions(app, customer)[-1] == "contact.updated"


def test_a_row_saved_unchanged_records_nothing(app, owner_client, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    before = _audit_actions(app, customer)
    data = edit_data(contact_id, name="Person 01", email="person01@contacts.example")
    response = hx(owner_client, "POST", f"/admin/customers/{customer.id}/contacts/{contact_id}", data)
    assert response.status_code == 200
    assert _audit_actions(app, customer) == before


def test_a_refused_change_leaves_no_trace(app, owner_client, customer):
    first, second = add_contacts(app, customer, 2)
    before = (contacts(app, customer), _audit_actions(app, customer))
    taken = contacts(app, customer)[0]["email"]
    data = edit_data(second, name="Renamed Too", email=taken.upper())
    response = hx(owner_client, "POST", f"/admin/customers/{customer.id}/contacts/{second}", data)
    assert response.status_code == 422
    assert "A contact person with this address exists already." in response.get_data(as_text=True)
    assert (contacts(app, customer), _audit_actions(app, customer)) == before


def test_a_refused_form_without_javascript_still_creates_the_dossier_link(app, owner_client, customer):
    """The Info page it answers with creates the customer's dossier link on first view, and
    the view's commit keeps it; the refused contact is not written."""
    response = owner_client.post(f"/admin/customers/{customer.id}/contacts", new_data(email="not an address"))
    assert response.status_code == 422
    assert "not an address" in response.get_data(as_text=True)
    assert contacts(app, customer) == []
    with app.app_context():
        links = db.session.scalar(select(func.count()).select_from(DossierLink)
                                  .where(DossierLink.customer_id == customer.id))
    assert links == 1
