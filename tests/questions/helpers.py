"""Helpers for the dossier's questions and instalment plans: a debtor's link, posting its
forms like the browser does, business settings, and reading outbox rows and audit events."""

from __future__ import annotations

from bs4 import BeautifulSoup
from sqlalchemy import select

from mailers.messages import build
from mailers.routing import Recipients
from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.outbox import OutboundEmail
from models.services import dossier
from models.services.settings import get_settings
from tests.conftest import soup_of

ENGLISH = {"Accept-Language": "en"}


def dossier_path(app, customer) -> str:
    """The customer's dossier link as a path (/d/<token>), as the Info tab would show it."""
    with app.app_context():
        token = dossier.current_token(customer.id)
        db.session.commit()
    return f"/d/{token}"


def page_token(soup: BeautifulSoup) -> str:
    """The session's CSRF token from a form's hidden csrf_token input (a dossier page has none
    in <body hx-headers>: without a form it sets no cookie)."""
    field = soup.find("input", attrs={"name": "csrf_token"})
    assert field is not None, "the page has no form with a csrf_token"
    return field["value"]


def get(client, url: str, expect: int = 200) -> BeautifulSoup:
    response = client.get(url, headers=ENGLISH)
    assert response.status_code == expect, (url, response.status_code, response.data[:600])
    return soup_of(response)


def post(client, url: str, data: dict | None = None, *, token_from: str, csrf: bool = True):
    """Post like the page's form: with the session's CSRF token, read from the page
    `token_from` (any page of the session carries the same token)."""
    data = dict(data or {})
    if csrf:
        data.setdefault("csrf_token", page_token(get(client, token_from)))
    return client.post(url, data=data, headers=ENGLISH)


def set_settings(app, **values) -> None:
    with app.app_context():
        settings = get_settings(for_update=True)
        for name, value in values.items():
            setattr(settings, name, value)
        db.session.commit()


def outbox_rows(app, customer=None, template: str | None = None) -> list[OutboundEmail]:
    with app.app_context():
        stmt = select(OutboundEmail).order_by(OutboundEmail.id)
        if customer is not None:
            stmt = stmt.where(OutboundEmail.customer_id == customer.id)
        if template is not None:
            stmt = stmt.where(OutboundEmail.template == template)
        rows = list(db.session.scalars(stmt))
        for row in rows:
            db.session.expunge(row)
        return rows


def built_mail(app, email_id: int):
    """The message the worker would send for an outbox row (subject, text, html)."""
    with app.app_context(), app.test_request_context():
        email = db.session.get(OutboundEmail, email_id)
        customer = db.session.get(Customer, email.customer_id)
        built = build(email, customer, Recipients(to=[customer.email or "x@example.test"]))
        db.session.rollback()
        return built.subject, built.message.body, built.message.html


def audit_actions(app, customer) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.customer_id == customer.id).order_by(AuditEvent.id)
        ))


def flashes(soup: BeautifulSoup) -> list[str]:
    box = soup.find(class_="flashes")
    return [p.get_text(" ", strip=True) for p in box.find_all("p")] if box else []


def form_errors(soup: BeautifulSoup) -> list[str]:
    return [p.get_text(" ", strip=True) for box in soup.find_all(class_="alert-error") for p in box.find_all("p")]
