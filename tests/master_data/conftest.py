"""Master data self-service: a customer with a portal login and a dossier link, an assigned
staff member, and the two ways in (`entry`: the same page and forms from the login and from
the link). Mail goes to a real SMTP sink (tests/mailers) where it matters; elsewhere outbox
rows are written and Redis points at a closed port, so nothing is queued anywhere.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from mailers import jobs, smtp
from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.one_time_codes import OneTimeCode
from models.outbox import MailStatus, OutboundEmail
from models.services import dossier, one_time_codes
from models.services.settings import get_settings
from tests import factories
from tests.conftest import soup_of
from tests.mailers.conftest import Sink
from tests.portal.conftest import active_login, logged_in

ENGLISH = {"Accept-Language": "en"}
VALID_IBAN = "NL91ABNA0417164300"
OTHER_IBAN = "DE89370400440532013000"
VALID_VAT = "NL004495445B01"


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(app.config, "DOSSIER_LIMIT_PER_IP", "100000 per minute")


@pytest.fixture
def sink(app, monkeypatch):
    """A real SMTP server the delivery job sends to (deliver_queued)."""
    server = Sink()
    server.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", server.port)
    monkeypatch.setitem(app.config, "MAIL_TIMEOUT", 5)
    smtp.close()
    yield server
    smtp.close()
    server.stop()


def deliver_queued(app) -> dict[int, str]:
    """Run the delivery job for every queued row, oldest first, as the worker does."""
    with app.app_context():
        ids = list(db.session.scalars(
            select(OutboundEmail.id).where(OutboundEmail.status == MailStatus.queued).order_by(OutboundEmail.id)))
    results = {}
    for email_id in ids:
        with app.app_context():
            results[email_id] = jobs.deliver(email_id)
    return results


def fresh_messages(app, sink) -> list:
    before = sink.count()
    deliver_queued(app)
    return sink.received()[before:]


CODE = re.compile(r"\b(\d{6})\b")


def code_in(mail) -> str:
    """The code of a code mail, the same in the text and the HTML part."""
    in_text = set(CODE.findall(mail.text))
    in_html = set(CODE.findall(BeautifulSoup(mail.html, "html.parser").get_text(" ")))
    assert len(in_text) == 1 and in_text == in_html, (in_text, in_html)
    return in_text.pop()


# --- the customer, the staff, the two ways in -----------------------------------------------------


@pytest.fixture
def staff(app, owner):
    """The assigned employee (hears of the changes) and the owner."""
    return factories.staff(role="employee", email="anja@example.test", name="Anja Assigned")


@pytest.fixture
def customer(app, staff):
    return factories.customer(
        assigned_to=[staff], name="Carla Customer", email="carla@example.com", language="en", phone="+31 20 555 0101",
        street="Kerkstraat 1", postal_code="1017 GA", city="Amsterdam", country="NL",
        iban="NL02RABO0123456789", bank_holder="Carla Customer", vat_id=None, tax_number=None)


def dossier_path(app, customer) -> str:
    with app.app_context():
        token = dossier.current_token(customer.id)
        db.session.commit()
    return f"/d/{token}"


def form_token(soup: BeautifulSoup) -> str:
    """The session's CSRF token as the page carries it: a form's hidden input, else <body hx-headers>."""
    field = soup.find("input", attrs={"name": lambda n: n and n.endswith("csrf_token")})
    if field is None and soup.body and soup.body.get("hx-headers"):
        return json.loads(soup.body["hx-headers"])["X-CSRFToken"]
    assert field is not None, "no form with a csrf_token on the page"
    return field["value"]


@dataclass
class Entry:
    """One way in: its client, the details page's path and how the page posts."""

    name: str
    client: object
    base: str  # /portal/details or /d/<token>/details
    dossier: str | None = None  # /d/<token> for the link
    _token: str | None = field(default=None, repr=False)

    def get(self, path: str = "", expect: int = 200) -> BeautifulSoup:
        response = self.client.get(self.base + path, headers=ENGLISH)
        assert response.status_code == expect, (self.base + path, response.status_code, response.data[:600])
        return soup_of(response)

    def token(self) -> str:
        if self._token is None:
            self._token = form_token(self.get())
        return self._token

    def post(self, path: str, data: dict | None = None, **kwargs):
        data = {"csrf_token": self.token(), **(data or {})}
        return self.client.post(self.base + path, data=data, headers=ENGLISH, **kwargs)


def portal_entry(app, customer, email: str = "carla.login@example.com") -> Entry:
    active_login(app, customer, email)
    return Entry("portal", logged_in(app.test_client(), email), "/portal/details")


def dossier_entry(app, customer) -> Entry:
    path = dossier_path(app, customer)
    return Entry("dossier", app.test_client(), f"{path}/details", dossier=path)


@pytest.fixture(params=["portal", "dossier"])
def entry(request, app, customer) -> Entry:
    return portal_entry(app, customer) if request.param == "portal" else dossier_entry(app, customer)


# --- reading the database back --------------------------------------------------------------------


def stored(app, customer) -> Customer:
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        db.session.expunge(record)
        return record


def events(app, customer, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).where(AuditEvent.customer_id == customer.id).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        rows = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return rows


def outbox(app, template: str | None = None) -> list[OutboundEmail]:
    with app.app_context():
        stmt = select(OutboundEmail).order_by(OutboundEmail.id)
        if template:
            stmt = stmt.where(OutboundEmail.template == template)
        rows = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return rows


def codes(app, customer) -> list[OneTimeCode]:
    with app.app_context():
        rows = list(db.session.scalars(
            select(OneTimeCode).where(OneTimeCode.customer_id == customer.id).order_by(OneTimeCode.id)))
        db.session.expunge_all()
        return rows


def mint_latest_code(app) -> str:
    """The latest code mail's code, minted as the worker mints it when it builds the mail
    (tests that do not need the SMTP sink)."""
    [*_, row] = outbox(app, one_time_codes.CODE_TEMPLATE)
    with app.app_context():
        code = one_time_codes.mint_code(row.context["code_id"], row.to_address)
        db.session.commit()
    return code


def set_settings(app, **values) -> None:
    with app.app_context():
        settings = get_settings(for_update=True)
        for name, value in values.items():
            setattr(settings, name, value)
        db.session.commit()


def step_up(app, client, dossier: str, next_path: str | None = None):
    """Ask for the dossier's code and enter it, as a visitor of the link does."""
    page = soup_of(client.get(f"{dossier}/verify", headers=ENGLISH))
    token = form_token(page)
    query = f"?next={next_path}" if next_path else ""
    assert client.post(f"{dossier}/verify/send{query}", data={"csrf_token": token}).status_code == 302
    code = mint_latest_code(app)
    return client.post(f"{dossier}/verify{query}", data={"csrf_token": token, "code": code}, headers=ENGLISH)


def flashes(soup: BeautifulSoup) -> list[str]:
    box = soup.find(class_="flashes")
    return [p.get_text(" ", strip=True) for p in box.find_all("p")] if box else []


def section(soup: BeautifulSoup, heading: str):
    found = soup.find("h2", string=heading)
    assert found is not None, f"no section {heading!r}"
    return found.find_parent("section")


def with_step_up(client, dossier: str) -> None:
    """Enter the dossier's code once in this client's session (for tests of what comes after
    it, e.g. instalment plans): the real flow, the code minted as the worker mints it."""
    done = client.__dict__.setdefault("_stepped_up", set())
    if dossier not in done:
        assert step_up(factories._app, client, dossier).status_code == 302
        done.add(dossier)
