"""Risky one-click actions ask first, in words, with and without JavaScript.

Each button is pressed the way a browser sends its form. Without `confirm=1` the answer is a
confirmation (status 200) that says the consequence, and nothing in the database changed;
its "Yes, …" button sends the same form with `confirm=1` and the action happens. Cancel
leads back to where the button was. With HTMX the portal-login confirmations arrive as the
"Portal logins" section's content, and their buttons stay in that section.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from babel.dates import format_date
from sqlalchemy import select

from models.customers import Customer
from models.db import db
from models.documents import DocumentStatus
from models.dossier import DossierLink
from models.instalments import InstalmentPlan, PlanStatus
from models.outbox import OutboundEmail
from models.portal_access import PortalAccess
from models.services import dossier
from models.services import portal_access as portal_access_service
from tests import factories
from tests.admin.test_access import snapshot
from tests.conftest import soup_of
from models import clock

ANNA = "anna@example.com"


@pytest.fixture(autouse=True)
def _redis_unreachable(app, monkeypatch):
    """Enqueueing after a commit is best-effort: with Redis down the rows just stay queued."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def anna(app):
    customer = factories.customer(name="Anna Archer", email=ANNA, language="en")
    with app.app_context():
        portal_access_service.add_login(None, db.session.get(Customer, customer.id), ANNA)
        dossier.current_link(customer.id)  # the link exists before anyone rotates it
        db.session.commit()
    return customer


# --- reading the page like a person ---------------------------------------------------------


def button(scope, text: str):
    found = scope.find("button", string=lambda s: s and s.strip() == text)
    assert found is not None, f"no button {text!r} in {[b.get_text(strip=True) for b in scope.find_all('button')]}"
    return found


def press(client, scope, text: str, *, htmx: bool = False):
    """The button's form as a browser sends it: its hidden fields plus the button's name=value."""
    pressed = button(scope, text)
    form = pressed.find_parent("form")
    data = {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name")
            and i.get("type") in ("hidden", None, "text", "email")}
    if pressed.get("name"):
        data[pressed["name"]] = pressed.get("value", "")
    if htmx:
        assert form["hx-post"] == form["action"], "an HTMX button posts where the plain form posts"
    return client.post(form["action"], data=data, headers={"HX-Request": "true"} if htmx else {})


def dialog(soup):
    """The confirmation: a dialog named by its heading, described by the consequence."""
    found = soup.find("dialog")
    assert found is not None, soup.get_text(" ", strip=True)[:500]
    assert found.has_attr("open")  # shown without any script
    title = soup.find(id=found["aria-labelledby"]).get_text(" ", strip=True)
    consequence = soup.find(id=found["aria-describedby"]).get_text(" ", strip=True)
    return found, title, consequence


def cancel_link(scope, text: str = "Cancel") -> str:
    link = scope.find("a", string=lambda s: s and s.strip() == text)
    assert link is not None, f"no link {text!r}"
    return link["href"]


def asked(client, response, *, title: str, says: list[str], yes: str, cancel: str, before: dict, app):
    """A confirmation page (200) that changed nothing; returns its dialog."""
    assert response.status_code == 200, (response.status_code, response.headers.get("Location"))
    soup = soup_of(response)
    box, heading, consequence = dialog(soup)
    assert heading == title
    for words in says:
        assert words in consequence, (words, consequence)
    button(box, yes)
    assert cancel_link(box) == cancel
    assert snapshot(app) == before, "asking changed the database"
    return box


def info(client, customer):
    return client.soup(f"/admin/customers/{customer.id}/info")


def section(soup, heading_id: str):
    return soup.find(id=heading_id).find_parent("section")


def outbox_templates(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OutboundEmail.template).order_by(OutboundEmail.id)))


# --- issuing a new dossier link ----------------------------------------------------------------


def test_new_dossier_link_says_every_printed_link_stops_working(app, owner_client, client, anna):
    with app.app_context():
        old = dossier.current_token(anna.id)
    page = info(owner_client, anna)
    assert "The current link stops working at once." in section(page, "dossier-h").get_text(" ", strip=True)
    before = snapshot(app)
    response = press(owner_client, section(page, "dossier-h"), "Issue new dossier link")
    box = asked(owner_client, response, app=app, before=before,
                title="Issue a new dossier link for Anna Archer?",
                says=["The current link stops working at once", "every letter already printed",
                      "every e-mail already sent", "send it to them"],
                yes="Yes, issue a new dossier link", cancel=f"/admin/customers/{anna.id}/info#dossier-h")
    assert soup_of(response).title.get_text(strip=True).startswith("Issue a new dossier link for Anna Archer?")
    assert client.get(f"/d/{old}").status_code == 200  # still the old link

    response = press(owner_client, box, "Yes, issue a new dossier link")
    assert response.status_code == 302
    assert client.get(f"/d/{old}").status_code == 404
    assert "A new dossier link was issued; the old link no longer works." in owner_client.soup(
        response.headers["Location"]).get_text()


# --- archiving a customer -------------------------------------------------------------------------


def test_archiving_says_what_disappears_and_restoring_asks_nothing(app, owner_client, anna):
    before = snapshot(app)
    response = press(owner_client, info(owner_client, anna), "Archive customer")
    box = asked(owner_client, response, app=app, before=before, title="Archive Anna Archer?",
                says=["disappears from the customer list and the search", "dossier link stops working",
                      "no portal login of theirs gets in", "You can restore the customer later."],
                yes="Yes, archive the customer", cancel=f"/admin/customers/{anna.id}/info")

    response = press(owner_client, box, "Yes, archive the customer")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Customer, anna.id).archived_at is not None
    # Restoring undoes nothing risky: it happens at once.
    response = press(owner_client, info(owner_client, anna), "Restore customer")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Customer, anna.id).archived_at is None


# --- portal access and logins ---------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["without JavaScript", "with HTMX"])
def test_turning_portal_access_off_says_who_is_locked_out(app, owner_client, anna, htmx):
    before = snapshot(app)
    response = press(owner_client, section(info(owner_client, anna), "portal-logins-h"), "Turn portal access off",
                     htmx=htmx)
    box = asked(owner_client, response, app=app, before=before, title="Turn portal access off for Anna Archer?",
                says=["No portal login of Anna Archer gets in any more, including anyone logged in right now.",
                      "The logins are kept"],
                yes="Yes, turn portal access off", cancel=f"/admin/customers/{anna.id}/info#portal-logins-h")
    soup = soup_of(response)
    if htmx:  # the section's content: its heading keeps the id the section is labelled by
        assert soup.find("html") is None
        assert box.find("h2", id="portal-logins-h") is not None
        cancel = box.find("a", string="Cancel")
        assert (cancel["hx-get"], cancel["hx-target"], cancel["hx-select"]) == (
            f"/admin/customers/{anna.id}/info", "#portal-logins", "#portal-logins")
    else:  # a page of its own, whose buttons are plain form posts
        assert soup.find("h1").get_text(strip=True) == "Turn portal access off for Anna Archer?"
        assert box.find("form").get("hx-post") is None

    response = press(owner_client, box, "Yes, turn portal access off", htmx=htmx)
    if htmx:
        assert response.status_code == 200
        assert "Turn portal access on" in soup_of(response).get_text()
    else:
        assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Customer, anna.id).portal_access is False


@pytest.mark.parametrize("htmx", [False, True], ids=["without JavaScript", "with HTMX"])
def test_turning_a_login_off_names_the_login(app, owner_client, anna, htmx):
    row = section(info(owner_client, anna), "portal-logins-h").find("tbody").find("tr")
    before = snapshot(app)
    response = press(owner_client, row, "Login on — turn off", htmx=htmx)
    box = asked(owner_client, response, app=app, before=before, title=f"Turn off the login {ANNA}?",
                says=[f"{ANNA} can no longer open the portal of Anna Archer", "even if logged in right now",
                      "An invitation that was not accepted yet stops working."],
                yes="Yes, turn the login off", cancel=f"/admin/customers/{anna.id}/info#portal-logins-h")
    press(owner_client, box, "Yes, turn the login off", htmx=htmx)
    with app.app_context():
        access = db.session.scalar(select(PortalAccess).where(PortalAccess.customer_id == anna.id))
        assert access.revoked_at is not None


def test_turning_things_on_and_other_login_actions_ask_nothing(app, owner_client, anna):
    """Only the risky direction asks: on, resend, notifications act at once."""
    url = f"/admin/customers/{anna.id}/portal-logins"
    with app.app_context():
        access_id = db.session.scalar(select(PortalAccess.id).where(PortalAccess.customer_id == anna.id))
    owner_client.post(url, data={"action": "portal_off", "confirm": "1"})
    owner_client.post(url, data={"action": "login_off", "access_id": access_id, "confirm": "1"})
    for data in ({"action": "portal_on"}, {"action": "login_on", "access_id": access_id},
                 {"action": "resend", "access_id": access_id}):
        assert owner_client.post(url, data=data).status_code == 302, data


# --- declining an instalment plan ---------------------------------------------------------------


@pytest.fixture
def pending_plan(app, anna):
    with app.app_context():
        plan = InstalmentPlan(customer_id=anna.id, status=PlanStatus.pending, total=Decimal("300.00"),
                              currency="EUR", count=3, start_date=clock.today())
        db.session.add(plan)
        db.session.commit()
        return plan.id


def test_declining_a_plan_says_the_customer_is_told_and_cannot_undo(app, owner_client, anna, pending_plan):
    overview = owner_client.soup(f"/admin/customers/{anna.id}")
    before = snapshot(app)
    response = press(owner_client, overview.find(id=f"plan-{pending_plan}-h").find_parent("article"), "Decline plan")
    box = asked(owner_client, response, app=app, before=before, title="Decline the instalment plan of Anna Archer?",
                says=["Anna Archer asked to pay €300.00 in 3 instalments.", "told by e-mail",
                      "reminders for its invoices start again", "cannot be approved later"],
                yes="Yes, decline the plan", cancel=f"/admin/customers/{anna.id}#dossier-activity-h")

    response = press(owner_client, box, "Yes, decline the plan")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(InstalmentPlan, pending_plan).status == PlanStatus.declined
    assert outbox_templates(app)[-1] == "instalment_declined"


def test_approving_a_plan_asks_nothing(app, owner_client, anna, pending_plan):
    assert owner_client.post(f"/admin/instalment-plans/{pending_plan}/approve").status_code == 302
    with app.app_context():
        assert db.session.get(InstalmentPlan, pending_plan).status == PlanStatus.active


# --- a reminder before the due date ---------------------------------------------------------------


@pytest.mark.parametrize("due_in_days", [14, 0], ids=["due in two weeks", "due today"])
def test_a_reminder_before_the_due_date_asks_first(app, owner_client, anna, due_in_days):
    invoice = factories.invoice(anna, due_in_days=due_in_days)
    page = owner_client.soup(f"/admin/invoices/{invoice.id}")
    before = snapshot(app)
    response = press(owner_client, page, "Send reminder")
    due = format_date(clock.today() + timedelta(days=due_in_days), "medium", locale="en")
    box = asked(owner_client, response, app=app, before=before,
                title=f"Send a reminder for invoice {invoice.number} before it is due?",
                says=[f"Invoice {invoice.number} is due on {due} and is not overdue yet.",
                      "tells Anna Archer that the invoice is unpaid before they had to pay it"],
                yes="Yes, send the reminder now", cancel=f"/admin/documents/{invoice.id}")

    response = press(owner_client, box, "Yes, send the reminder now")
    assert response.status_code == 302
    assert "invoice_reminder" in outbox_templates(app)


def test_a_reminder_for_an_overdue_invoice_is_sent_at_once(app, owner_client, anna):
    invoice = factories.invoice(anna, due_in_days=-3)
    response = press(owner_client, owner_client.soup(f"/admin/invoices/{invoice.id}"), "Send reminder")
    assert response.status_code == 302
    assert "invoice_reminder" in outbox_templates(app)


def test_sending_the_invoice_itself_asks_nothing(app, owner_client, anna):
    invoice = factories.invoice(anna, due_in_days=14)
    response = press(owner_client, owner_client.soup(f"/admin/invoices/{invoice.id}"), "Send invoice")
    assert response.status_code == 302
    assert outbox_templates(app)[-1] == "invoice_issued"


def test_a_paid_invoice_is_refused_not_asked(app, owner_client, anna):
    paid = factories.invoice(anna, status=DocumentStatus.paid, amount_paid="121.00")
    response = owner_client.post(f"/admin/invoices/{paid.id}/send", data={"reminder": "1"})
    assert response.status_code == 302  # the service says why, as before


# --- the confirmation itself --------------------------------------------------------------------------


def test_the_yes_button_needs_the_csrf_token(app, owner_client, anna):
    """A forged "Yes" from another site is refused like any other POST."""
    before = snapshot(app)
    for url, data in ((f"/admin/customers/{anna.id}/archive", {"confirm": "1"}),
                      (f"/admin/customers/{anna.id}/dossier-link", {"confirm": "1"}),
                      (f"/admin/customers/{anna.id}/portal-logins", {"action": "portal_off", "confirm": "1"})):
        assert owner_client.client.post(url, data=data).status_code == 400
    assert snapshot(app) == before


def test_an_employee_is_never_asked_about_an_unassigned_customer(app, employee_client, anna, pending_plan):
    """The access check comes first: a 404, not a confirmation naming the customer."""
    invoice = factories.invoice(anna)
    for url, data in ((f"/admin/customers/{anna.id}/archive", {}),
                      (f"/admin/customers/{anna.id}/dossier-link", {}),
                      (f"/admin/customers/{anna.id}/portal-logins", {"action": "portal_off"}),
                      (f"/admin/instalment-plans/{pending_plan}/decline", {}),
                      (f"/admin/invoices/{invoice.id}/send", {"reminder": "1"})):
        response = employee_client.post(url, data=data)
        assert response.status_code == 404, url
        assert "Anna Archer" not in response.get_data(as_text=True)


def test_the_confirmation_speaks_the_staff_members_language(app, owner_client, anna):
    owner_client.post("/admin/account", data={"lang-language": "nl", "lang-submit": "Save language"})
    response = press(owner_client, info(owner_client, anna), "Klant archiveren")
    _, title, consequence = dialog(soup_of(response))
    assert title == "Anna Archer archiveren?"
    assert "U kunt de klant later terugzetten." in consequence
    button(soup_of(response), "Ja, klant archiveren")
    assert cancel_link(soup_of(response), "Annuleren") == f"/admin/customers/{anna.id}/info"
