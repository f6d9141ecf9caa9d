"""Contact POSTs read in autocommit and write in one transaction (models.db.reads_first).

A row saved unchanged or a refused form then costs no BEGIN and no ROLLBACK; a change
still writes the contact, its audit event and the customer's revision atomically.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from models.contacts import ContactPerson
from models.customers import Customer
from models.db import begin_writes, db, reads_first
from models.dossier import DossierLink
from models.revisions import NOT_SHOWN
from tests.conftest import count_queries
from tests.contacts.conftest import add_contacts, contacts, edit_data, hx, new_data


def statements_with_mode(app):
    """[(first word of the statement, ran in autocommit?)] for what the block sends."""
    return count_queries(app, describe=lambda conn, statement: (
        statement.split(None, 1)[0].upper(),
        conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT",
    ))


def _unchanged(contact_id: int) -> dict:
    return edit_data(contact_id, name="Person 01", email="person01@contacts.example")


def test_a_row_saved_unchanged_runs_no_transaction(app, owner_client, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    with statements_with_mode(app) as seen:
        response = hx(owner_client, "POST", f"/admin/customers/{customer.id}/contacts/{contact_id}",
                      _unchanged(contact_id))
    assert response.status_code == 200
    assert seen and all(verb == "SELECT" and autocommit for verb, autocommit in seen), seen


def test_a_refused_form_runs_no_transaction(app, owner_client, customer):
    with statements_with_mode(app) as seen:
        response = hx(owner_client, "POST", f"/admin/customers/{customer.id}/contacts",
                      new_data(email="not an address"))
    assert response.status_code == 422
    assert seen and all(autocommit for _, autocommit in seen), seen
    assert contacts(app, customer) == []


@pytest.mark.parametrize("change", ["phone", "email"])
def test_a_change_writes_everything_in_one_transaction(app, owner_client, customer, change):
    (contact_id,) = add_contacts(app, customer, 1)
    data = _unchanged(contact_id)
    data[f"c{contact_id}-{change}"] = {"phone": "+31 20 555 0101", "email": "new.address@contacts.example"}[change]
    with statements_with_mode(app) as seen:
        response = hx(owner_client, "POST", f"/admin/customers/{customer.id}/contacts/{contact_id}", data)
    assert response.status_code == 200
    first_write = next(i for i, (verb, _) in enumerate(seen) if verb in ("INSERT", "UPDATE", "DELETE"))
    assert all(autocommit for _, autocommit in seen[:first_write]), seen  # the reads
    assert not any(autocommit for _, autocommit in seen[first_write:]), seen  # lock, check, writes
    assert [verb for verb, _ in seen[:first_write]] == ["SELECT", "SELECT"], seen  # staff, contact
    if change == "email":  # the customer is locked before the address is checked
        assert seen[first_write:first_write + 2] == [("UPDATE", False), ("SELECT", False)], seen
    assert contacts(app, customer)[0][change] == data[f"c{contact_id}-{change}"]


def test_adding_and_removing_write_in_a_transaction(app, owner_client, customer):
    with statements_with_mode(app) as seen:
        response = hx(owner_client, "POST", f"/admin/customers/{customer.id}/contacts", new_data())
    assert response.status_code == 200
    (added,) = contacts(app, customer)
    assert [verb for verb, autocommit in seen if not autocommit][:1] == ["UPDATE"], seen  # the lock comes first
    assert not any(autocommit for verb, autocommit in seen if verb != "SELECT"), seen

    with statements_with_mode(app) as seen:
        response = hx(owner_client, "POST", f"/admin/customers/{customer.id}/contacts/{added['id']}/remove")
    assert response.status_code == 200
    assert contacts(app, customer) == []
    assert not any(autocommit for verb, autocommit in seen if verb != "SELECT"), seen


def test_a_write_before_begin_writes_is_refused(app, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    with app.test_request_context():
        reads_first()
        contact = db.session.get(ContactPerson, contact_id)
        contact.name = "Changed in autocommit"
        with pytest.raises(RuntimeError, match="begin_writes"):
            db.session.flush()
        db.session.rollback()
    with app.test_request_context():
        reads_first()
        with pytest.raises(RuntimeError, match="begin_writes"):
            db.session.execute(update(Customer).where(Customer.id == customer.id).values(name="x")
                               .execution_options(revisions=NOT_SHOWN))
    assert contacts(app, customer)[0]["name"] == "Person 01"


def test_begin_writes_keeps_what_was_read(app, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    with app.test_request_context():
        reads_first()
        contact = db.session.scalar(select(ContactPerson).where(ContactPerson.id == contact_id))
        begin_writes()
        with statements_with_mode(app) as seen:
            assert contact.name == "Person 01"  # still loaded: no statement
        assert seen == []
        contact.name = "Renamed"
        db.session.commit()
    assert contacts(app, customer)[0]["name"] == "Renamed"


def test_a_refused_form_without_javascript_may_still_create_the_dossier_link(app, owner_client, customer):
    """The Info page it answers with creates the customer's dossier link on first view:
    that write, too, comes after begin_writes(), in a transaction of its own."""
    with statements_with_mode(app) as seen:
        response = owner_client.post(f"/admin/customers/{customer.id}/contacts", new_data(email="not an address"))
    assert response.status_code == 422
    assert "not an address" in response.get_data(as_text=True)
    inserts = [autocommit for verb, autocommit in seen if verb == "INSERT"]
    assert inserts == [False], seen
    with app.app_context():
        assert db.session.scalar(select(DossierLink.id).where(DossierLink.customer_id == customer.id)) is not None
