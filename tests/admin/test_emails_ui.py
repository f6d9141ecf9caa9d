"""Staff actions that send e-mail, as a person uses them: buttons, flash messages, the e-mail log.

No worker runs here and Redis is unreachable: the actions only write outbox rows, which
stay queued. (Enqueueing after the commit is best-effort, so the requests still succeed.)
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.documents import DocumentStatus
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.services import outbox
from tests import factories
from tests.conftest import field_error, input_value, soup_of

NO_ADDRESS_WARNING = "No e-mail address known: e-mails to this customer cannot be delivered."
NO_ADDRESS_FLASH = "No e-mail address is known for this customer: the e-mail cannot be delivered."
ON_ITS_WAY = "The e-mail is on its way."


@pytest.fixture(autouse=True)
def _redis_unreachable(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


# --- reading pages like a person ---------------------------------------------------------------


def button(soup, text: str):
    return soup.find("button", string=lambda s: s and s.strip() == text)


def press(staff, soup, text: str):
    """Submit the form of the button labelled `text`, with its hidden fields, and follow the redirect."""
    found = button(soup, text)
    assert found is not None, f"no button {text!r}"
    form = found.find_parent("form")
    assert form["method"] == "post"
    data = {i["name"]: i.get("value", "") for i in form.find_all("input", type="hidden") if i.has_attr("name")}
    return staff.post(form["action"], data=data, follow_redirects=True)


def flashes(soup) -> list[str]:
    box = soup.find(class_="flashes")
    return [p.get_text(strip=True) for p in box.find_all("p")] if box else []


def emails_of(app, customer) -> list[OutboundEmail]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboundEmail).where(OutboundEmail.customer_id == customer.id).order_by(OutboundEmail.id)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def audit_actions(app, customer) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.customer_id == customer.id).order_by(AuditEvent.id)))


def log_rows(soup) -> list[dict]:
    """The e-mail log's rows: the texts by column header, and whether the row has a Resend button."""
    table = soup.find(id="emails-h").find_parent("section").find("table")
    if table is None:
        return []
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    rows = []
    for tr in table.tbody.find_all("tr"):
        cells = tr.find_all("td")
        row = {h: c.get_text(" ", strip=True) for h, c in zip(headers, cells) if h != "Actions"}
        row["resend"] = button(tr, "Resend") is not None
        rows.append(row)
    return rows


@pytest.fixture
def debtor():
    return factories.customer(name="Dora Debtor", email="dora@example.test", language="en")


# --- sending an invoice or a reminder from the invoice page --------------------------------


@pytest.mark.parametrize("action,template,audit", [
    ("Send invoice", "invoice_issued", "invoice.sent"),
    ("Send reminder", "invoice_reminder", "invoice.reminded"),
])
def test_send_buttons_queue_an_email(app, owner_client, debtor, action, template, audit):
    invoice = factories.invoice(debtor, due_in_days=-3)
    page = f"/admin/documents/{invoice.id}"
    response = press(owner_client, owner_client.soup(page), action)
    assert response.status_code == 200
    assert response.request.path == page  # back on the invoice page
    soup = soup_of(response)
    assert flashes(soup) == [ON_ITS_WAY]
    assert NO_ADDRESS_WARNING not in soup.get_text()

    [email] = emails_of(app, debtor)
    assert (email.category, email.template, email.document_id) == (MailCategory.invoice, template, invoice.id)
    assert email.status == MailStatus.queued and email.attempts == 0  # no worker: it waits in the outbox
    assert email.to_address is None  # customer mail is routed when it is sent
    assert audit_actions(app, debtor)[-1] == audit

    # The customer's overview lists it under "Latest e-mails", as queued.
    overview = owner_client.soup(f"/admin/customers/{debtor.id}")
    latest = overview.find(id="latest-emails").find_parent("section")
    assert [tr.find_all("td")[2].get_text(strip=True) for tr in latest.tbody.find_all("tr")] == ["queued"]


def test_sending_twice_writes_two_rows(app, owner_client, debtor):
    invoice = factories.invoice(debtor)
    page = f"/admin/documents/{invoice.id}"
    press(owner_client, owner_client.soup(page), "Send invoice")
    asked = soup_of(press(owner_client, owner_client.soup(page), "Send reminder"))  # not due yet: asked first
    press(owner_client, asked, "Yes, send the reminder now")
    assert [e.template for e in emails_of(app, debtor)] == ["invoice_issued", "invoice_reminder"]


def test_customer_without_email_is_warned_about(app, owner_client):
    silent = factories.customer(name="Sid Silent", email=None)
    invoice = factories.invoice(silent)
    page = f"/admin/documents/{invoice.id}"
    soup = owner_client.soup(page)
    assert NO_ADDRESS_WARNING in soup.get_text()
    response = press(owner_client, soup, "Send invoice")
    assert response.request.path == page
    soup = soup_of(response)
    assert flashes(soup) == [NO_ADDRESS_FLASH]
    assert ON_ITS_WAY not in soup.get_text()
    assert NO_ADDRESS_WARNING in soup.get_text()
    assert NO_ADDRESS_WARNING in owner_client.soup(f"/admin/customers/{silent.id}").get_text()
    # A customer with an address gets no warning.
    with_address = factories.invoice(factories.customer(email="has@example.test"))
    assert NO_ADDRESS_WARNING not in owner_client.soup(f"/admin/invoices/{with_address.id}").get_text()


def test_buttons_follow_the_invoice_status(owner_client, debtor):
    shown = {}
    for status, paid in ((DocumentStatus.open, "0.00"), (DocumentStatus.partially_paid, "10.00"),
                         (DocumentStatus.paid, "121.00"), (DocumentStatus.cancelled, "0.00")):
        invoice = factories.invoice(debtor, status=status, amount_paid=paid)
        soup = owner_client.soup(f"/admin/invoices/{invoice.id}")
        shown[status.value] = [t for t in ("Send invoice", "Send reminder") if button(soup, t) is not None]
    assert shown == {
        "open": ["Send invoice", "Send reminder"],
        "partially_paid": ["Send invoice", "Send reminder"],
        "paid": ["Send invoice"],
        "cancelled": [],
    }


def test_reminder_for_a_paid_invoice_is_refused(app, owner_client, debtor):
    invoice = factories.invoice(debtor, status=DocumentStatus.paid, amount_paid="121.00")
    response = owner_client.post(f"/admin/invoices/{invoice.id}/send", data={"reminder": "1"},
                                 follow_redirects=True)
    assert response.request.path == f"/admin/documents/{invoice.id}"
    assert flashes(soup_of(response)) == ["Only an unpaid invoice gets a reminder."]
    assert emails_of(app, debtor) == []
    assert "invoice.reminded" not in audit_actions(app, debtor)


def test_a_cancelled_invoice_is_not_sent(app, owner_client, debtor):
    invoice = factories.invoice(debtor, status=DocumentStatus.cancelled)
    for data in ({}, {"reminder": "1"}):
        response = owner_client.post(f"/admin/invoices/{invoice.id}/send", data=data, follow_redirects=True)
        assert response.request.path == f"/admin/documents/{invoice.id}"
        assert flashes(soup_of(response)) in (["A cancelled invoice is not sent."],
                                              ["Only an unpaid invoice gets a reminder."])
    assert emails_of(app, debtor) == []


# --- the account notice form -----------------------------------------------------------------


def test_account_notice_form_has_labelled_fields_and_queues_a_notice(app, owner_client, debtor):
    overview = owner_client.soup(f"/admin/customers/{debtor.id}")
    link = overview.find("a", string=lambda s: s and s.strip() == "Send account notice")
    soup = owner_client.soup(link["href"])
    assert soup.find("select", id=soup.find("label", string="Notice")["for"]) is not None
    assert soup.find("textarea", id=soup.find("label", string="Message (optional)")["for"]) is not None
    options = {o["value"]: o.get_text(strip=True) for o in soup.find("select").find_all("option")}
    assert options == {"order_confirmed": "Order confirmed", "shipped": "Order shipped",
                       "subscription_changed": "Subscription changed"}

    response = owner_client.post(link["href"], data={"notice": "shipped", "message": "  Parcel 42 left today.  "},
                                 follow_redirects=True)
    assert response.request.path == f"/admin/customers/{debtor.id}/emails"
    soup = soup_of(response)
    assert flashes(soup) == [ON_ITS_WAY]
    [email] = emails_of(app, debtor)
    assert (email.category, email.template, email.status) == (MailCategory.account, "account_notice", MailStatus.queued)
    assert email.context == {"notice": "shipped", "message": "Parcel 42 left today."}
    assert [r["Status"] for r in log_rows(soup)] == ["queued"]
    assert audit_actions(app, debtor)[-1] == "account_notice.sent"


@pytest.mark.parametrize("notice", ["password_reset", "", "shipped'--"])
def test_unknown_notice_is_refused_next_to_the_field(app, owner_client, debtor, notice):
    response = owner_client.post(f"/admin/customers/{debtor.id}/notice",
                                 data={"notice": notice, "message": "Keep me"})
    assert 400 <= response.status_code < 500, response.status_code
    soup = soup_of(response)
    assert field_error(soup, "Notice") == "Not a valid choice."  # next to the field, tied to it
    assert field_error(soup, "Message (optional)") is None
    assert input_value(soup, "Message (optional)").strip() == "Keep me"  # what was typed is kept
    assert emails_of(app, debtor) == []


def test_notice_for_a_customer_without_email_says_so(app, owner_client):
    silent = factories.customer(email=None)
    response = owner_client.post(f"/admin/customers/{silent.id}/notice", data={"notice": "shipped"},
                                 follow_redirects=True)
    assert flashes(soup_of(response)) == [NO_ADDRESS_FLASH]


# --- the e-mail log and resending ------------------------------------------------------------


def _emails_in_every_status(app, customer) -> dict[str, int]:
    ids = {}
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        for status in MailStatus:
            email = outbox.queue_customer_email(record, MailCategory.account, "account_notice",
                                                context={"notice": "shipped", "message": ""})
            email.status = status
            if status == MailStatus.failed:
                email.last_error = "550 5.1.1 mailbox unavailable"
                email.attempts = 5
            if status == MailStatus.sent:
                email.subject = "Your order was shipped"
                email.recipients_to, email.recipients_cc = ["dora@example.test"], ["boss@example.test"]
            db.session.commit()
            ids[status.value] = email.id
    return ids


def test_email_log_lists_every_row_with_its_status_and_resend_only_for_failed(app, owner_client, debtor):
    _emails_in_every_status(app, debtor)
    soup = owner_client.soup(f"/admin/customers/{debtor.id}/emails")
    rows = log_rows(soup)
    assert sorted(r["Status"].split(" ")[0] for r in rows) == ["failed", "queued", "sending", "sent"]
    by_status = {r["Status"].split(" ")[0]: r for r in rows}
    assert by_status["failed"]["Status"] == "failed 550 5.1.1 mailbox unavailable"
    assert by_status["sent"]["E-mail"] == "Your order was shipped"
    assert by_status["queued"]["E-mail"] == "Account notice"
    assert (by_status["sent"]["To"], by_status["sent"]["CC"]) == ("dora@example.test", "boss@example.test")
    assert {s: r["resend"] for s, r in by_status.items()} == {
        "queued": False, "sending": False, "sent": False, "failed": True}
    # The overview shows the latest ones, without actions.
    latest = owner_client.soup(f"/admin/customers/{debtor.id}").find(id="latest-emails").find_parent("section")
    assert len(latest.tbody.find_all("tr")) == 4 and button(latest, "Resend") is None


def test_resend_queues_the_failed_row_again_and_is_audited(app, owner_client, owner, debtor):
    ids = _emails_in_every_status(app, debtor)
    response = press(owner_client, owner_client.soup(f"/admin/customers/{debtor.id}/emails"), "Resend")
    assert response.request.path == f"/admin/customers/{debtor.id}/emails"
    soup = soup_of(response)
    assert flashes(soup) == ["The e-mail was queued again."]
    assert sorted(r["Status"].split(" ")[0] for r in log_rows(soup)) == ["queued", "queued", "sending", "sent"]
    assert not any(r["resend"] for r in log_rows(soup))

    resent = next(e for e in emails_of(app, debtor) if e.id == ids["failed"])
    assert resent.status == MailStatus.queued and resent.next_attempt_at is None
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "email.resent"))
        assert (event.entity_type, event.entity_id, event.customer_id, event.actor_staff_id) == (
            "outbound_email", ids["failed"], debtor.id, owner.id)


def test_resend_of_a_row_that_did_not_fail_changes_nothing(app, owner_client, debtor):
    ids = _emails_in_every_status(app, debtor)
    before = {e.id: e.status for e in emails_of(app, debtor)}
    for status in ("queued", "sending", "sent"):
        response = owner_client.post(f"/admin/customers/{debtor.id}/emails/{ids[status]}/resend",
                                     follow_redirects=True)
        assert flashes(soup_of(response)) == ["Only an e-mail that failed can be sent again."], status
    assert {e.id: e.status for e in emails_of(app, debtor)} == before
    assert "email.resent" not in audit_actions(app, debtor)
