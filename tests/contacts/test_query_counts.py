"""The contact pages cost the same number of SQL statements with 1 and with 10 contacts.

Pinned: an N+1 on the contacts (or any new query) fails here. Measured on SQLite and on
PostgreSQL alike, after a warm-up request (the Info tab creates the dossier link on its
first view).
"""

from __future__ import annotations

import pytest

from models.db import db
from models.services.settings import get_settings
from tests.conftest import count_queries, soup_of
from tests.contacts.conftest import add_contacts, edit_data, hx, portal_login

# staff member, customer, dossier link, history, portal logins (joined with their users),
# contacts, custom field definitions, custom field values, tags, assigned staff
PINNED_ADMIN_INFO = 10
# portal user, open accounts (access joined with customer), contacts, business settings
# (looked up once per request for the title and the header)
PINNED_PORTAL_CONTACTS = 4


@pytest.fixture(autouse=True)
def _settings_row(app):
    """As in any installation that has run a while: the business settings row exists."""
    with app.app_context():
        get_settings(for_update=True)
        db.session.commit()


def _count(app, client, path: str, rows: int) -> list[str]:
    client.get(path)  # warm up
    with count_queries(app) as statements:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert len(soup_of(response).find(id="contacts-body").find_all("tr")) == rows  # measured with the data shown
    return statements


@pytest.mark.parametrize("size", [1, 10])
def test_admin_info_tab(app, owner_client, customer, size):
    add_contacts(app, customer, size)
    statements = _count(app, owner_client, f"/admin/customers/{customer.id}/info", size)
    assert len(statements) == PINNED_ADMIN_INFO, "\n--\n".join(statements)


@pytest.mark.parametrize("size", [1, 10])
def test_portal_contacts_page(app, customer, size):
    add_contacts(app, customer, size)
    client = portal_login(app, customer, "pat@acme.example")
    statements = _count(app, client, "/portal/contacts", size)
    assert len(statements) == PINNED_PORTAL_CONTACTS, "\n--\n".join(statements)


# The inline rows (Show, Edit, Save): the staff member, then the contact together with its
# customer's address and the access check, in one statement.
PINNED_ADMIN_ROW = 2


@pytest.mark.parametrize("action", ["show", "edit", "save unchanged", "save changed"])
def test_admin_row_requests(app, owner_client, customer, action):
    (contact_id,) = add_contacts(app, customer, 1)
    url = f"/admin/customers/{customer.id}/contacts/{contact_id}"
    unchanged = edit_data(contact_id, name="Person 01", email="person01@contacts.example")
    request = {
        "show": lambda: hx(owner_client, "GET", url),
        "edit": lambda: hx(owner_client, "GET", url + "/edit"),
        "save unchanged": lambda: hx(owner_client, "POST", url, unchanged),
        "save changed": lambda: hx(owner_client, "POST", url, {**unchanged, f"c{contact_id}-phone": "+31 20 555 0101"}),
    }[action]
    request()  # warm up
    with count_queries(app) as statements:
        response = request()
    assert response.status_code == 200, response.data[:500]
    assert soup_of(response).find("tr", id=f"contact-{contact_id}") is not None
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == PINNED_ADMIN_ROW, "\n--\n".join(statements)
    if action == "save unchanged":
        assert statements == reads, "saving unchanged values writes nothing"
