"""Questions on an invoice: the debtor asks through the dossier link, staff see it (customer
Overview, the invoice list's Attention filter, the invoice page) and answer; the answer is
e-mailed and the invoice stops waiting. A link reaches only its own customer's threads."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models.db import db
from models.documents import Document, DocumentStatus
from models.outbox import MailCategory
from models.questions import DocumentMessage
from tests import factories
from tests.conftest import field_error, soup_of
from tests.questions.helpers import (
    audit_actions,
    built_mail,
    dossier_path,
    flashes,
    get,
    outbox_rows,
    page_token,
    post,
    set_settings,
)


def thread_of(soup) -> list[tuple[str, str]]:
    """(author, text) of each message in the "Questions…" section."""
    section = soup.find(id="questions-h").find_parent("section")
    return [
        (li.find(class_="meta").strong.get_text(strip=True), li.find(class_="body").get_text(" ", strip=True))
        for li in section.find_all("li", class_="message")
    ]


def ask(client, path: str, invoice, body: str):
    return post(client, f"{path}/invoices/{invoice.id}/questions", {"body": body}, token_from=path)


def unanswered_on_overview(staff, customer) -> list[str]:
    soup = staff.soup(f"/admin/customers/{customer.id}")
    listing = soup.find(id="unanswered-h").find_next_sibling()
    return [a.get_text(strip=True) for a in listing.find_all("a")] if listing.name == "ul" else []


def attention_list(staff) -> list[str]:
    soup = staff.soup("/admin/invoices?attention=questions")
    table = soup.find("table")
    return [tr.find("td").get_text(strip=True) for tr in table.tbody.find_all("tr")] if table else []


def message_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(DocumentMessage))


def waiting_since(app, invoice):
    with app.app_context():
        return db.session.get(Document, invoice.id).awaiting_answer_since


# --- the whole round trip ------------------------------------------------------------------------


def test_ask_see_answer_mail_and_the_filter_clears(app, client, owner_client, debtor):
    customer, invoice, other_invoice = debtor
    path = dossier_path(app, customer)
    page = get(client, f"{path}/invoices/{invoice.id}")
    assert page.find("h2", id="questions-h").get_text(strip=True) == "Questions about this invoice"
    assert page.find("label", string="Your question") is not None
    assert page.find("input", type="submit", value="Send question") is not None

    response = ask(client, path, invoice, "Why is VAT charged?\nWe are exempt.")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/invoices/{invoice.id}#questions-h")
    page = get(client, f"{path}/invoices/{invoice.id}")
    assert flashes(page) == ["Your question was sent. We will answer by e-mail and on this page."]
    assert thread_of(page) == [("You", "Why is VAT charged? We are exempt.")]
    assert waiting_since(app, invoice) is not None

    # Staff see it on the customer Overview, in the Attention filter and on the invoice.
    assert unanswered_on_overview(owner_client, customer) == [f"Invoice {invoice.number}"]
    assert attention_list(owner_client) == [invoice.number]
    detail = owner_client.soup(f"/admin/invoices/{invoice.id}")
    assert thread_of(detail) == [("Customer", "Why is VAT charged? We are exempt.")]
    assert "waiting for an answer" in detail.find(id="questions-h").find_parent("section").get_text()

    response = owner_client.post(f"/admin/invoices/{invoice.id}/answer", {"body": "You are right:\nnew invoice follows."})
    assert response.status_code == 302
    detail = owner_client.soup(f"/admin/invoices/{invoice.id}")
    assert flashes(detail) == ["Your answer was sent to the customer."]
    assert thread_of(detail)[-1] == ("Olga Owner", "You are right: new invoice follows.")

    # The mail: invoice category, about this invoice, carrying the answer and the dossier link.
    [mail] = outbox_rows(app, customer, "question_answered")
    assert mail.category == MailCategory.invoice and mail.document_id == invoice.id
    subject, text, html = built_mail(app, mail.id)
    assert subject == f"Answer to your question about invoice {invoice.number}"
    assert "You are right:\nnew invoice follows." in text
    assert f"https://dossier.example{path}/invoices/{invoice.id}" in text
    assert "You are right:<br>new invoice follows." in html

    # Nothing waits any more.
    assert waiting_since(app, invoice) is None
    assert unanswered_on_overview(owner_client, customer) == []
    assert attention_list(owner_client) == []
    page = get(client, f"{path}/invoices/{invoice.id}")
    assert thread_of(page) == [("You", "Why is VAT charged? We are exempt."),
                               ("My business", "You are right: new invoice follows.")]
    assert audit_actions(app, customer) == ["question.asked", "question.answered"]
    # The other invoice of the customer has its own (empty) thread.
    assert thread_of(get(client, f"{path}/invoices/{other_invoice.id}")) == []


def test_a_second_question_keeps_the_first_waiting_time(app, client, debtor):
    customer, invoice, _ = debtor
    path = dossier_path(app, customer)
    ask(client, path, invoice, "First?")
    first = waiting_since(app, invoice)
    ask(client, path, invoice, "Still there?")
    assert waiting_since(app, invoice) == first
    assert [text for _, text in thread_of(get(client, f"{path}/invoices/{invoice.id}"))] == ["First?", "Still there?"]


def test_the_same_question_sent_twice_is_asked_once(app, client, owner_client, debtor):
    """A double click or a resent form (back, then send again) before an answer: one question,
    one entry for staff. Asked again after the answer, it is a new question."""
    customer, invoice, _ = debtor
    path = dossier_path(app, customer)
    for _ in range(2):
        assert ask(client, path, invoice, "Why is this so expensive?").status_code == 302
    assert [text for _, text in thread_of(get(client, f"{path}/invoices/{invoice.id}"))] == ["Why is this so expensive?"]
    assert audit_actions(app, customer).count("question.asked") == 1
    owner_client.post(f"/admin/invoices/{invoice.id}/answer", {"body": "Materials went up."})
    assert ask(client, path, invoice, "Why is this so expensive?").status_code == 302
    assert [text for _, text in thread_of(get(client, f"{path}/invoices/{invoice.id}"))] == [
        "Why is this so expensive?", "Materials went up.", "Why is this so expensive?"]


def test_unanswered_questions_are_listed_longest_waiting_first(app, client, owner_client, debtor):
    customer, first, second = debtor
    path = dossier_path(app, customer)
    ask(client, path, second, "About the second")
    ask(client, path, first, "About the first")
    assert unanswered_on_overview(owner_client, customer) == [f"Invoice {second.number}", f"Invoice {first.number}"]
    assert sorted(attention_list(owner_client)) == sorted([first.number, second.number])


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("body, message", [
    ("", "Write your question."),
    ("   \n  ", "Write your question."),
    ("x" * 2001, "Keep it under 2000 characters."),
    ("null\x00byte", "This contains a character that cannot be saved."),
])
def test_a_bad_question_is_refused_next_to_the_field(app, client, debtor, body, message):
    customer, invoice, _ = debtor
    path = dossier_path(app, customer)
    response = ask(client, path, invoice, body)
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Your question") == message
    assert soup.find("h1").get_text(strip=True) == f"Invoice {invoice.number}"  # still the invoice page
    assert message_count(app) == 0 and waiting_since(app, invoice) is None


def test_a_flood_of_questions_waits_for_an_answer(app, client, debtor):
    customer, invoice, _ = debtor
    path = dossier_path(app, customer)
    for n in range(10):
        assert ask(client, path, invoice, f"Question {n}").status_code == 302
    response = ask(client, path, invoice, "One more")
    assert response.status_code == 422
    assert field_error(soup_of(response), "Your question") == "Please wait for our answer before asking more."
    assert message_count(app) == 10


def test_a_bad_answer_is_refused_next_to_the_field(app, client, owner_client, debtor):
    customer, invoice, _ = debtor
    path = dossier_path(app, customer)
    ask(client, path, invoice, "Hello?")
    for body, message in (("", "Write your answer."), ("y" * 5001, "Keep it under 5000 characters.")):
        response = owner_client.post(f"/admin/invoices/{invoice.id}/answer", {"body": body})
        assert response.status_code == 422
        assert field_error(soup_of(response), "Your answer") == message
    assert outbox_rows(app, customer, "question_answered") == []
    assert waiting_since(app, invoice) is not None  # the question still waits


# --- one link, one customer ----------------------------------------------------------------------


def test_another_customers_link_cannot_read_or_post_to_this_thread(app, client, debtor, stranger):
    customer, invoice, _ = debtor
    other, other_invoice = stranger
    mine, theirs = dossier_path(app, customer), dossier_path(app, other)
    ask(client, mine, invoice, "A private question")

    assert client.get(f"{theirs}/invoices/{invoice.id}").status_code == 404
    assert ask(client, theirs, invoice, "Sneaky").status_code == 404
    # Changing ids never crosses customers, in either direction.
    assert ask(client, mine, other_invoice, "Sneaky too").status_code == 404
    for impossible in (0, 999_999, 2**31, 2**63, 10**30):
        assert ask(client, mine, type("Fake", (), {"id": impossible}), "Nope").status_code == 404
    assert message_count(app) == 1
    assert "A private question" not in get(client, f"{theirs}/invoices/{other_invoice.id}").get_text()
    assert waiting_since(app, other_invoice) is None


def test_unreleased_cancelled_and_revoked_are_404(app, client, owner_client, debtor):
    customer, invoice, _ = debtor
    hidden = factories.invoice(customer, amount="10.00")
    cancelled = factories.invoice(customer, amount="10.00", status=DocumentStatus.cancelled)
    with app.app_context():
        db.session.get(Document, hidden.id).released_to_portal = False
        db.session.commit()
    path = dossier_path(app, customer)
    assert ask(client, path, hidden, "?").status_code == 404
    assert ask(client, path, cancelled, "?").status_code == 404
    token = page_token(get(client, path))
    owner_client.post(f"/admin/customers/{customer.id}/dossier-link", data={"confirm": "1"})  # a new link: the old one is dead
    response = client.post(f"{path}/invoices/{invoice.id}/questions", data={"body": "?", "csrf_token": token})
    assert response.status_code == 404
    assert message_count(app) == 0


def test_an_employee_not_assigned_to_the_customer_cannot_answer(app, client, employee_client, debtor):
    customer, invoice, _ = debtor
    path = dossier_path(app, customer)
    ask(client, path, invoice, "Anyone?")
    assert employee_client.get(f"/admin/invoices/{invoice.id}").status_code == 404
    assert employee_client.post(f"/admin/invoices/{invoice.id}/answer", {"body": "Me!"}).status_code == 404
    assert attention_list(employee_client) == []
    assert waiting_since(app, invoice) is not None and outbox_rows(app, customer) == []


def test_an_assigned_employee_answers(app, client, employee, employee_client):
    customer = factories.customer(language="en", assigned_to=[employee])
    invoice = factories.invoice(customer)
    path = dossier_path(app, customer)
    ask(client, path, invoice, "Anyone?")
    assert attention_list(employee_client) == [invoice.number]
    assert employee_client.post(f"/admin/invoices/{invoice.id}/answer", {"body": "Me!"}).status_code == 302
    assert waiting_since(app, invoice) is None


# --- CSRF, the setting, the rate limit -----------------------------------------------------------


def test_every_post_needs_the_csrf_token(app, client, owner_client, debtor):
    customer, invoice, _ = debtor
    path = dossier_path(app, customer)
    get(client, path)  # a session exists, but the form's token is not sent
    response = post(client, f"{path}/invoices/{invoice.id}/questions", {"body": "Hi"}, token_from=path, csrf=False)
    assert response.status_code == 400
    response = post(client, f"{path}/invoices/{invoice.id}/questions", {"body": "Hi", "csrf_token": "forged"},
                    token_from=path)
    assert response.status_code == 400
    assert message_count(app) == 0
    ask(client, path, invoice, "Hi")
    response = owner_client.client.post(f"/admin/invoices/{invoice.id}/answer", data={"body": "Hello"})
    assert response.status_code == 400
    assert outbox_rows(app, customer) == [] and waiting_since(app, invoice) is not None


def test_questions_switched_off_hide_the_form_and_refuse_posts(app, client, owner_client, debtor):
    customer, invoice, other_invoice = debtor
    path = dossier_path(app, customer)
    ask(client, path, invoice, "Asked while it was on")
    set_settings(app, allow_questions=False)

    page = get(client, f"{path}/invoices/{invoice.id}")
    assert page.find("label", string="Your question") is None
    assert thread_of(page) == [("You", "Asked while it was on")]  # what was said stays readable
    assert get(client, f"{path}/invoices/{other_invoice.id}").find(id="questions-h") is None
    assert ask(client, path, invoice, "And now?").status_code == 404
    assert message_count(app) == 1
    # Staff still answer what was asked.
    assert owner_client.post(f"/admin/invoices/{invoice.id}/answer", {"body": "Answered"}).status_code == 302


def test_asking_is_rate_limited(app, client, debtor, monkeypatch):
    customer, invoice, _ = debtor
    path = dossier_path(app, customer)
    token_page = get(client, path)
    monkeypatch.setitem(app.config, "DOSSIER_LIMIT_PER_IP", "3 per minute")
    token = page_token(token_page)
    codes = [client.post(f"{path}/invoices/{invoice.id}/questions", data={"body": f"Q{n}", "csrf_token": token}).status_code
             for n in range(5)]
    assert codes[:3] == [302, 302, 302] and codes[3:] == [429, 429]
    assert message_count(app) == 3


def test_the_thread_is_not_printed(app, client, debtor):
    customer, invoice, _ = debtor
    path = dossier_path(app, customer)
    ask(client, path, invoice, "Printed?")
    section = get(client, f"{path}/invoices/{invoice.id}?print=1").find(id="questions-h").find_parent("section")
    assert "no-print" in section["class"]
