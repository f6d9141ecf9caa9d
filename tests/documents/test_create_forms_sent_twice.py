"""A form that creates a document, sent twice (a double click on "Create …", or the answer
reloaded), makes one document: the second request lands on the one the first made. Through
HTTP as staff use the forms: the form shown once (its hidden random key with it), the same
data posted twice. A form shown anew is a new form and makes a new document.

On PostgreSQL also six requests of one form at the same moment: one document, no error.
"""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import func, select

from models.db import db
from models.documents import Document
from tests import factories
from tests.conftest import soup_of
from tests.documents.test_document_forms import KINDS, credit_path, fill_line, form_data, new_path, reminder_path
from tests.documents.test_document_page import details, flashes, followed, number, page, status, title

POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:"))


def count(app, kind: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Document).where(Document.kind == kind))


def sent_twice(client, path: str, data: dict):
    """The same form posted twice: both answers redirect to the same document page."""
    first, second = client.post(path, data=data), client.post(path, data=data)
    assert first.status_code == second.status_code == 302, (first.status_code, second.status_code)
    assert second.headers["Location"] == first.headers["Location"]
    return followed(client, second)


def reminder_form_data(soup) -> dict:
    """What the browser sends of the reminder form as shown: the ticked invoices, the fields, hidden ones too."""
    form = soup.find("button", string="Create reminder").find_parent("form")
    data: dict = {"invoices": [box["value"] for box in form.find_all("input", type="checkbox") if box.has_attr("checked")]}
    data.update({i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("type") != "checkbox"})
    data.update({s["name"]: (s.find("option", selected=True) or s.find("option"))["value"]
                 for s in form.find_all("select")})
    return data


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_new_document_form_sent_twice_makes_one_document(app, owner_client, customer, today, kind):
    label, prefix, _heading, create = KINDS[kind]
    data = {**fill_line(form_data(owner_client.soup(new_path(customer, kind))), 0, "Installation", "2", "80.00"),
            "action": "save"}
    soup = sent_twice(owner_client, new_path(customer, kind), data)
    assert title(soup) == f"{label} {number(prefix, 1, today)}"
    assert set(flashes(soup)) == {f"{label} {number(prefix, 1, today)} was created."}  # the same one, twice
    assert count(app, kind) == 1
    # the form shown again is a new form: the same lines typed into it make a second document
    data = {**fill_line(form_data(owner_client.soup(new_path(customer, kind))), 0, "Installation", "2", "80.00"),
            "action": "save"}
    soup = followed(owner_client, owner_client.post(new_path(customer, kind), data=data))
    assert title(soup) == f"{label} {number(prefix, 2, today)}"
    assert count(app, kind) == 2


def test_the_same_draft_sent_twice_is_kept_once(app, owner_client, customer):
    data = {**fill_line(form_data(owner_client.soup(new_path(customer, "invoice"))), 0, "Design", "1", "400.00"),
            "action": "draft"}
    soup = sent_twice(owner_client, new_path(customer, "invoice"), data)
    assert title(soup) == "Invoice (draft)"
    assert count(app, "invoice") == 1


def test_a_key_kept_through_adding_a_line_still_makes_one_document(app, owner_client, customer, today):
    """Lines added by posting the form back: it is still the same form, sent twice at the end."""
    data = fill_line(form_data(owner_client.soup(new_path(customer, "quote"))), 0, "Design", "1", "400.00")
    shown = soup_of(owner_client.post(new_path(customer, "quote"), data={**data, "action": "add_line"}))
    data = {**fill_line(form_data(shown), 1, "Printing", "2", "30.00"), "action": "save"}
    sent_twice(owner_client, new_path(customer, "quote"), data)
    assert count(app, "quote") == 1


def test_the_same_credit_note_form_sent_twice_credits_once(app, owner_client, customer, today):
    """The worst case: a credit note cannot be cancelled, and what it credits beyond the
    outstanding amount stays as customer credit for good."""
    invoice = factories.invoice(customer, amount="100.00")  # 121.00
    other = factories.invoice(customer, amount="50.00")
    data = {**fill_line(form_data(owner_client.soup(credit_path(invoice))), 0, "Goodwill", "1", "150.00", "0"),
            "action": "save"}
    soup = sent_twice(owner_client, credit_path(invoice), data)
    assert title(soup) == f"Credit note {number('CN-', 1, today)}"
    assert details(soup)["Refers to"] == f"Invoice {invoice.number}"
    assert count(app, "credit_note") == 1
    assert status(page(owner_client, invoice.id)) == "paid"
    other_page = page(owner_client, other.id)  # 29.00 beyond the invoice's 121.00, not 179.00
    assert "Apply customer credit (€29.00)" in {b.get_text(strip=True) for b in other_page.find_all("button")}


def test_the_same_reminder_form_sent_twice_makes_one_reminder(app, owner_client, customer, today):
    late = factories.invoice(customer, amount="100.00", due_in_days=-40)
    data = {**reminder_form_data(owner_client.soup(reminder_path(customer))), "fee": "7.50"}
    assert data["invoices"] == [str(late.id)]
    soup = sent_twice(owner_client, reminder_path(customer), data)
    assert title(soup) == f"Reminder {number('R-', 1, today)}"
    assert count(app, "reminder") == 1


@pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL: SQLite lets one writer in at a time, nothing races")
@pytest.mark.parametrize("form", ["invoice", "credit_note", "reminder"])
def test_one_form_sent_six_times_at_once_makes_one_document(app, owner_client, customer, today, form):
    """A double (or sextuple) click whose requests arrive together, each a request of its own."""
    if form == "invoice":
        path = new_path(customer, "invoice")
        data = {**fill_line(form_data(owner_client.soup(path)), 0, "Installation", "2", "80.00"), "action": "save"}
    elif form == "credit_note":
        invoice = factories.invoice(customer, amount="100.00")
        path = credit_path(invoice)
        data = {**fill_line(form_data(owner_client.soup(path)), 0, "Goodwill", "1", "150.00", "0"), "action": "save"}
    else:
        factories.invoice(customer, amount="100.00", due_in_days=-40)
        path = reminder_path(customer)
        data = reminder_form_data(owner_client.soup(path))
    data["csrf_token"] = owner_client.token
    cookie = owner_client.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    clients = []
    for _n in range(6):  # six tabs of one browser: the same login
        client = app.test_client()
        client.set_cookie(cookie.key, cookie.value)
        clients.append(client)
    start = threading.Barrier(len(clients))
    answers: list = [None] * len(clients)

    def send(n: int) -> None:
        start.wait(timeout=30)
        answers[n] = clients[n].post(path, data=data)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert [answer.status_code for answer in answers] == [302] * 6, [a.status_code for a in answers]
    assert len({answer.headers["Location"] for answer in answers}) == 1
    assert count(app, form) == 1
    if form == "credit_note":
        with app.app_context():
            assert db.session.get(Document, invoice.id).amount_credited == invoice.gross_total
