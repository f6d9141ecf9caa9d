"""Portal helpers: logins made through the same service the staff pages use, invitation
links minted as the mail worker mints them, and a browser-like way to post portal forms.

Mail is not sent here (tests/mailers/test_portal_mail.py does that against a real SMTP
sink); outbox rows are still written, and Redis points at a closed port so nothing from
these tests can land on a developer's queue.
"""

from __future__ import annotations

import json

import pytest
from bs4 import BeautifulSoup

from models.customers import Customer
from models.db import db
from models.portal_access import PortalAccess, PortalUser
from models.services import portal_access
from models.staff import StaffUser
from tests.conftest import csrf_token, soup_of

PORTAL_PASSWORD = "plum tractor velvet 42"  # 12+ characters, not in zxcvbn's list
OTHER_PASSWORD = "another long passphrase 7"


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


def _actor(staff: StaffUser | None) -> StaffUser | None:
    return db.session.get(StaffUser, staff.id) if staff is not None else None


def invite(app, customer, email: str, staff: StaffUser | None = None) -> tuple[int, str]:
    """Add a login for the customer (LOGIN on) and mint its invitation link: (access id, token)."""
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        access = portal_access.add_login(_actor(staff), record, email)
        token = portal_access.mint_invitation(access)
        db.session.commit()
        return access.id, token


def new_invitation_token(app, access_id: int) -> str:
    """A fresh link for an existing access, as the worker mints it when the mail goes out."""
    with app.app_context():
        token = portal_access.mint_invitation(db.session.get(PortalAccess, access_id))
        db.session.commit()
        return token


def active_login(app, customer, email: str, password: str = PORTAL_PASSWORD) -> int:
    """An accepted login (an existing identity keeps its password); returns the access id."""
    access_id, token = invite(app, customer, email)
    with app.app_context():
        portal_access.accept_invitation(token, password)
        db.session.commit()
    return access_id


def access_row(app, access_id: int) -> PortalAccess:
    with app.app_context():
        access = db.session.get(PortalAccess, access_id)
        db.session.expunge(access)
        return access


def portal_user(app, email: str) -> PortalUser:
    with app.app_context():
        user = db.session.scalar(db.select(PortalUser).where(PortalUser.email == email.lower()))
        db.session.expunge(user)
        return user


def with_access(app, access_id: int, change) -> None:
    """Run change(access, customer) in an app context and commit (staff-side changes)."""
    with app.app_context():
        access = db.session.get(PortalAccess, access_id)
        change(access, db.session.get(Customer, access.customer_id))
        db.session.commit()


def session_token(client) -> str:
    """The session's CSRF token, read from a portal page like the browser does."""
    return csrf_token(client, "/portal/login")


def post_form(client, url: str, data: dict | None = None, **kwargs):
    """Post like the page's form does: with the session's CSRF token."""
    data = dict(data or {})
    data.setdefault("csrf_token", session_token(client))
    return client.post(url, data=data, **kwargs)


def portal_login(client, email: str, password: str = PORTAL_PASSWORD, next_url: str | None = None):
    url = "/portal/login" + (f"?next={next_url}" if next_url else "")
    return post_form(client, url, {"email": email, "password": password})


def logged_in(client, email: str, password: str = PORTAL_PASSWORD):
    response = portal_login(client, email, password)
    assert response.status_code == 302, (response.status_code, response.data[:800])
    return client


def portal_logout(client):
    return post_form(client, "/portal/logout")


def heading(soup: BeautifulSoup) -> str:
    return soup.find("h1").get_text(" ", strip=True)


def form_errors(soup: BeautifulSoup) -> list[str]:
    box = soup.find(class_="alert-error")
    return [p.get_text(" ", strip=True) for p in box.find_all("p")] if box else []


def flashes(soup: BeautifulSoup) -> list[str]:
    box = soup.find(class_="flashes")
    return [p.get_text(" ", strip=True) for p in box.find_all("p")] if box else []


def account_bar(soup: BeautifulSoup):
    return soup.find(attrs={"role": "region", "aria-label": "Open account"})


def open_buttons(soup: BeautifulSoup) -> list[str]:
    return [b.get_text(" ", strip=True) for b in soup.find_all("button") if b.get_text(strip=True).startswith("Open ")]


def page(client, url: str, expect: int = 200) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == expect, (url, response.status_code, response.headers.get("Location"),
                                            response.data[:500])
    return soup_of(response)


def hx_token(soup: BeautifulSoup) -> str:
    return json.loads(soup.body["hx-headers"])["X-CSRFToken"]
