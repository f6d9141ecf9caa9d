"""Contact-person helpers: customers with contacts, a logged-in portal client, HTMX posts.

Contacts are written straight into the table (the rules are tested through the routes);
everything else goes through the same services and pages the app uses.
"""

from __future__ import annotations

import json

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from models.contacts import ContactPerson, ContactRole
from models.customers import Customer
from models.db import db, now_utc
from models.portal_access import PortalAccess, PortalUser
from models.services.passwords import hash_password
from tests import factories
from tests.conftest import csrf_token, soup_of

PORTAL_PASSWORD = "plum tractor velvet 42"
_hashes: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    """Queued mail must not reach a real Redis (nor the embedded one of a dev checkout)."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def customer(app):
    return factories.customer(name="Acme Trading", email="billing@acme.example", language="en")


@pytest.fixture
def other_customer(app):
    return factories.customer(name="Bolt Supplies", email="office@bolt.example", language="en")


def add_contacts(app, customer, n: int, *, prefix: str = "Person", **values) -> list[int]:
    """`n` contacts named "<prefix> 01".. with addresses <prefix>NN@contacts.example; their ids."""
    with app.app_context():
        rows = [
            ContactPerson(customer_id=customer.id, name=f"{prefix} {i:02d}",
                          email=f"{prefix.lower().replace(' ', '')}{i:02d}@contacts.example",
                          **{"role": ContactRole.general, "invoice_emails": True, "account_emails": False, **values})
            for i in range(1, n + 1)
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [r.id for r in rows]


def contacts(app, customer) -> list[dict]:
    """The customer's contacts as plain dicts, ordered by id."""
    with app.app_context():
        rows = db.session.scalars(
            select(ContactPerson).where(ContactPerson.customer_id == customer.id).order_by(ContactPerson.id)
        )
        return [
            {"id": c.id, "name": c.name, "email": c.email, "phone": c.phone, "role": c.role.value,
             "invoice_emails": c.invoice_emails, "account_emails": c.account_emails}
            for c in rows
        ]


def all_contacts(app) -> list[dict]:
    with app.app_context():
        return [
            {"id": c.id, "customer_id": c.customer_id, "name": c.name, "email": c.email, "phone": c.phone,
             "role": c.role.value, "invoice_emails": c.invoice_emails, "account_emails": c.account_emails}
            for c in db.session.scalars(select(ContactPerson).order_by(ContactPerson.id))
        ]


def portal_user_for(app, customer, email: str, password: str = PORTAL_PASSWORD) -> int:
    """An accepted, active portal login for the customer; returns the portal user id."""
    if password not in _hashes:
        _hashes[password] = hash_password(password)
    with app.app_context():
        user = PortalUser(email=email.lower(), password_hash=_hashes[password], password_changed_at=now_utc())
        db.session.add(user)
        db.session.flush()
        db.session.add(PortalAccess(portal_user_id=user.id, customer_id=customer.id,
                                    invited_at=now_utc(), accepted_at=now_utc()))
        db.session.commit()
        return user.id


def hx_token(soup: BeautifulSoup) -> str:
    return json.loads(soup.body["hx-headers"])["X-CSRFToken"]


class PortalClient:
    """A logged-in portal test client; like StaffClient it adds the CSRF token to POSTs."""

    def __init__(self, client, email: str):
        self.client, self.email = client, email
        # The login starts a fresh session (no fixation): read the token after it.
        self.token = csrf_token(client, "/portal/contacts")

    def get(self, *args, **kwargs):
        return self.client.get(*args, **kwargs)

    def post(self, url, data=None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, **kwargs)

    def soup(self, url, expect: int = 200) -> BeautifulSoup:
        response = self.get(url)
        assert response.status_code == expect, (response.status_code, response.data[:500])
        return soup_of(response)


def portal_login(app, customer, email: str) -> PortalClient:
    """A portal user of `customer` (only that one), logged in with its account open."""
    portal_user_for(app, customer, email)
    client = app.test_client()
    token = csrf_token(client, "/portal/login")
    response = client.post("/portal/login", data={"email": email, "password": PORTAL_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, (response.status_code, response.data[:800])
    assert response.headers["Location"].endswith("/portal/"), response.headers["Location"]
    return PortalClient(client, email)


@pytest.fixture
def portal_client(app, customer):
    return portal_login(app, customer, "pat@acme.example")


def hx(client, method: str, url: str, data: dict | None = None, *, token: str | None = None, **kwargs):
    """An HTMX request as the page sends it: HX-Request, the CSRF token as X-CSRFToken header."""
    headers = {"HX-Request": "true", **kwargs.pop("headers", {})}
    if method == "POST":
        headers["X-CSRFToken"] = client.token if token is None else token
        return client.client.post(url, data=data or {}, headers=headers, **kwargs)
    return client.client.get(url, headers=headers, **kwargs)


def new_data(name="Nina Noord", email="nina@acme-partner.example", phone="", role="general",
             invoice=True, account=False, prefix="new") -> dict:
    """The "new contact" row's fields as the browser posts them (unchecked boxes absent)."""
    data = {f"{prefix}-name": name, f"{prefix}-email": email, f"{prefix}-phone": phone, f"{prefix}-role": role}
    if invoice:
        data[f"{prefix}-invoice_emails"] = "y"
    if account:
        data[f"{prefix}-account_emails"] = "y"
    return data


def edit_data(contact_id: int, **values) -> dict:
    return new_data(prefix=f"c{contact_id}", **values)


def form_row(soup: BeautifulSoup, contact_id: int | None = None):
    """The open form row (new, or a contact's) — the place its fields and errors must be."""
    row = soup.find("tr", id=f"contact-{contact_id}" if contact_id else "contact-new")
    assert row is not None and "editing" in (row.get("class") or []), soup.prettify()[:2000]
    return row


def row_errors(row) -> list[str]:
    return [p.get_text(" ", strip=True) for p in row.find_all(class_="error")]


def counter_text(soup: BeautifulSoup) -> str:
    return soup.find(id="contact-count").get_text(" ", strip=True)


def customer_row(app, customer_id: int) -> Customer:
    with app.app_context():
        record = db.session.get(Customer, customer_id)
        db.session.expunge(record)
        return record
