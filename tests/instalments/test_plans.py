"""Instalment plans end to end: the debtor previews and confirms on the dossier, small plans
start at once, larger ones wait for staff (Approve / Decline), staff Cancel; every step
e-mails the customer; reminders for covered invoices pause while a plan runs."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models.db import db
from models.services import recorded_payments
from models.services.bank_statements import BANK_TRANSFER
from models.staff import StaffUser
from models.documents import Document, DocumentStatus
from models.instalments import InstalmentPlan, PlanStatus
from models.outbox import MailCategory
from tests import factories
from tests.conftest import field_error, soup_of
from tests.master_data.conftest import with_step_up
from tests.questions.helpers import (
    audit_actions,
    built_mail,
    dossier_path,
    flashes,
    form_errors,
    get,
    outbox_rows,
    page_token,
    post,
    set_settings,
)
from models import clock

TODAY = clock.today()


@pytest.fixture
def debtor(app):
    """€121.00 + €60.50 = €181.50 open in EUR (auto-approved up to the default €500.00)."""
    customer = factories.customer(name="Dora Debtor", language="en", email="dora@example.test")
    return customer, [factories.invoice(customer, amount="100.00"), factories.invoice(customer, amount="50.00")]


def schedule_rows(soup, heading: str) -> list[tuple[str, str, str]]:
    section = soup.find("h2", string=heading).find_parent("section")
    return [tuple(td.get_text(strip=True) for td in tr.find_all("td")) for tr in section.find("table").tbody.find_all("tr")]


def preview(client, path: str, count="3", start=None, currency="EUR", **extra):
    with_step_up(client, path)  # a plan from the link needs the code sent to the primary address
    data = {"currency": currency, "count": count, "start_date": start or TODAY.isoformat(), **extra}
    return post(client, f"{path}/instalments/preview", data, token_from=path)


def confirm_values(soup) -> dict[str, str]:
    """What the "Confirm this plan" form sends (its hidden fields and the token)."""
    button = soup.find("button", string="Confirm this plan")
    return {i["name"]: i.get("value", "") for i in button.find_parent("form").find_all("input")}


def arrange(client, path: str, count="3", start=None, currency="EUR"):
    response = preview(client, path, count, start, currency)
    assert response.status_code == 200, response.data[:800]
    return client.post(f"{path}/instalments/confirm", data=confirm_values(soup_of(response)))


def plans_of(app, customer) -> list[InstalmentPlan]:
    with app.app_context():
        plans = list(db.session.scalars(
            select(InstalmentPlan).where(InstalmentPlan.customer_id == customer.id).order_by(InstalmentPlan.id)
        ))
        for plan in plans:
            _ = plan.instalments, plan.documents
            db.session.expunge(plan)
        return plans


def overview_plan(staff, customer):
    soup = staff.soup(f"/admin/customers/{customer.id}")
    return soup.find(id="plans-h").find_next_sibling("article")


def reminder_count(app, customer) -> int:
    return len(outbox_rows(app, customer, "invoice_reminder"))


# --- the debtor's two steps ----------------------------------------------------------------------


def test_preview_then_confirm_a_small_plan_which_starts_at_once(app, client, owner_client, debtor):
    customer, invoices = debtor
    path = dossier_path(app, customer)
    page = get(client, path)
    section = page.find("h2", id="instalments-h").find_parent("section")
    assert section.h2.get_text(strip=True) == "Pay in instalments"
    assert section.find("a", string="Arrange instalments")["href"] == f"{path}/instalments"

    page = get(client, f"{path}/instalments")
    assert page.h1.get_text(strip=True) == "Pay in instalments"
    for label in ("Number of instalments", "First payment date"):
        assert page.find("label", string=label) is not None
    assert page.find("label", string="Currency") is None  # one currency: nothing to choose
    assert "2 to 6 instalments of at least €25.00 each." in page.get_text(" ", strip=True)

    start = TODAY + timedelta(days=3)
    response = preview(client, path, "3", start.isoformat())
    assert response.status_code == 200
    soup = soup_of(response)
    assert [r[2] for r in schedule_rows(soup, "Your schedule")] == ["€60.50", "€60.50", "€60.50"]
    assert plans_of(app, customer) == []  # a preview saves nothing

    response = client.post(f"{path}/instalments/confirm", data=confirm_values(soup))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{path}/instalments")
    [plan] = plans_of(app, customer)
    assert plan.status == PlanStatus.active and plan.decided_by_id is None and plan.decided_at is not None
    assert (plan.total, plan.currency, plan.count, plan.start_date) == (Decimal("181.50"), "EUR", 3, start)
    assert sorted(d.id for d in plan.documents) == sorted(i.id for i in invoices)
    assert [i.due_date for i in plan.instalments] == [start, *(
        __import__("models.services.instalments", fromlist=["add_months"]).add_months(start, n) for n in (1, 2))]

    page = get(client, f"{path}/instalments")
    assert flashes(page) == ["Your instalment plan is confirmed. We have sent you the schedule by e-mail."]
    assert page.find("h2", string="Your instalment plan") is not None
    assert page.find("label", string="Number of instalments") is None  # no second plan
    assert "active" in page.find(class_="status").get_text()
    # The dossier page shows the running plan instead of the offer.
    page = get(client, path)
    assert page.find(id="instalments-h").get_text(strip=True) == "Your instalment plan"
    assert len(schedule_rows(page, "Your instalment plan")) == 3

    [mail] = outbox_rows(app, customer, "instalment_confirmed")
    assert mail.category == MailCategory.invoice
    subject, text, html = built_mail(app, mail.id)
    assert subject == "Your instalment plan with My business is confirmed"
    assert "1 of 3" in text and "€60.50" in text and invoices[0].number in text
    assert "Payment schedule:" in text and "<td>3 of 3</td>" in html and "€60.50" in html
    assert audit_actions(app, customer) == ["instalment_plan.requested"]
    # Staff see it on the Overview with Cancel only.
    article = overview_plan(owner_client, customer)
    assert [b.get_text(strip=True) for b in article.find_all("button")] == ["Cancel plan"]


def test_the_remainder_lands_on_the_last_instalment_on_the_page(app, client):
    customer = factories.customer(language="en")
    factories.invoice(customer, amount="100.00", vat="0")
    path = dossier_path(app, customer)
    soup = soup_of(preview(client, path, "3"))
    assert [r[2] for r in schedule_rows(soup, "Your schedule")] == ["€33.33", "€33.33", "€33.34"]
    assert schedule_rows(soup, "Your schedule")[0][0] == "1 of 3"


@pytest.mark.parametrize("values, label, message", [
    ({"count": "7"}, "Number of instalments", "At most 6 instalments are possible."),
    ({"count": "1"}, "Number of instalments", "Choose at least 2 instalments."),
    ({"count": ""}, "Number of instalments", "Enter the number of instalments."),
    ({"count": "three"}, "Number of instalments", "Not a valid integer value."),
    ({"start": (TODAY - timedelta(days=1)).isoformat()}, "First payment date", None),
    ({"start": (TODAY + timedelta(days=31)).isoformat()}, "First payment date", None),
    ({"start": "2025-02-30"}, "First payment date", "Not a valid date value."),
])
def test_bad_values_are_refused_next_to_the_field(app, client, debtor, values, label, message):
    customer, _ = debtor
    path = dossier_path(app, customer)
    response = preview(client, path, **values)
    assert response.status_code == 422
    error = field_error(soup_of(response), label)
    if message:
        assert error == message
    else:
        assert error.startswith("Choose a first payment date from ")
    assert soup_of(response).find("button", string="Confirm this plan") is None
    assert plans_of(app, customer) == []


def test_the_minimum_amount_says_the_most_instalments_possible(app, client, debtor):
    customer, _ = debtor
    set_settings(app, instalment_min_amount=Decimal("50.00"))
    path = dossier_path(app, customer)
    response = preview(client, path, "4")
    assert response.status_code == 422
    assert field_error(soup_of(response), "Number of instalments") == (
        "Each instalment must be at least €50.00: for €181.50 that is at most 3 instalments.")
    assert preview(client, path, "3").status_code == 200


def test_a_large_plan_waits_for_staff_who_approve_it(app, client, owner_client, owner, debtor):
    customer, invoices = debtor
    set_settings(app, instalment_auto_approve_up_to=Decimal("100.00"))
    path = dossier_path(app, customer)
    soup = soup_of(preview(client, path, "2"))
    assert "We will check this plan before it starts" in soup.get_text()
    assert client.post(f"{path}/instalments/confirm", data=confirm_values(soup)).status_code == 302
    [plan] = plans_of(app, customer)
    assert plan.status == PlanStatus.pending and plan.decided_at is None
    page = get(client, f"{path}/instalments")
    assert flashes(page) == ["Your request was sent. We will let you know by e-mail when we have checked it."]
    assert "waiting for approval" in page.find(class_="status").get_text()
    [requested] = outbox_rows(app, customer, "instalment_requested")
    assert built_mail(app, requested.id)[0] == "We received your instalment plan request — My business"

    # Pending already pauses reminders.
    owner_client.post(f"/admin/invoices/{invoices[0].id}/send", {"reminder": "1", "confirm": "1"})
    assert reminder_count(app, customer) == 0

    article = overview_plan(owner_client, customer)
    assert [b.get_text(strip=True) for b in article.find_all("button")] == ["Approve plan", "Decline plan"]
    assert "€181.50 in 2 instalments" in article.get_text(" ", strip=True)
    response = owner_client.post(f"/admin/instalment-plans/{plan.id}/approve")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/customers/{customer.id}#dossier-activity-h")
    [plan] = plans_of(app, customer)
    assert plan.status == PlanStatus.active and plan.decided_by_id == owner.id
    [approved] = outbox_rows(app, customer, "instalment_approved")
    subject, text, _ = built_mail(app, approved.id)
    assert subject == "Your instalment plan with My business is approved" and "2 of 2" in text
    assert audit_actions(app, customer) == ["instalment_plan.requested", "instalment_plan.approved"]
    # Deciding twice is refused with a message, nothing changes.
    owner_client.post(f"/admin/instalment-plans/{plan.id}/decline", data={"confirm": "1"})
    soup = owner_client.soup(f"/admin/customers/{customer.id}")
    assert "This plan has already been decided or has ended." in flashes(soup)
    assert plans_of(app, customer)[0].status == PlanStatus.active


def test_staff_decline_a_pending_plan_and_the_debtor_may_ask_again(app, client, owner_client, debtor):
    customer, invoices = debtor
    set_settings(app, instalment_auto_approve_up_to=Decimal("0.00"))
    path = dossier_path(app, customer)
    arrange(client, path, "2")
    [plan] = plans_of(app, customer)
    assert owner_client.post(f"/admin/instalment-plans/{plan.id}/decline", data={"confirm": "1"}).status_code == 302
    assert plans_of(app, customer)[0].status == PlanStatus.declined
    [declined] = outbox_rows(app, customer, "instalment_declined")
    subject, text, _ = built_mail(app, declined.id)
    assert subject == "Your instalment plan request — My business"
    assert "we cannot agree" in text and "1 of 2" not in text  # no schedule for a declined plan
    # Reminders are allowed again, and a new plan may be requested.
    owner_client.post(f"/admin/invoices/{invoices[0].id}/send", {"reminder": "1", "confirm": "1"})
    assert reminder_count(app, customer) == 1
    assert get(client, f"{path}/instalments").find("label", string="Number of instalments") is not None


def test_reminders_pause_while_a_plan_runs_and_resume_after_cancel(app, client, owner_client, debtor):
    customer, invoices = debtor
    outside = factories.invoice(customer, amount="10.00")  # arrives after the plan: not covered
    path = dossier_path(app, customer)
    with app.app_context():
        db.session.get(Document, outside.id).released_to_portal = False  # and not in the plan either
        db.session.commit()
    arrange(client, path, "2")
    [plan] = plans_of(app, customer)
    assert outside.id not in [d.id for d in plan.documents]

    owner_client.post(f"/admin/invoices/{invoices[1].id}/send", {"reminder": "1", "confirm": "1"})
    detail = owner_client.soup(f"/admin/invoices/{invoices[1].id}")
    assert flashes(detail) == ["Reminders for this invoice pause while its instalment plan runs."]
    assert reminder_count(app, customer) == 0
    owner_client.post(f"/admin/invoices/{outside.id}/send", {"reminder": "1", "confirm": "1"})
    assert reminder_count(app, customer) == 1  # an invoice outside the plan still gets one

    assert owner_client.post(f"/admin/instalment-plans/{plan.id}/cancel").status_code == 302
    assert plans_of(app, customer)[0].status == PlanStatus.cancelled
    [cancelled] = outbox_rows(app, customer, "instalment_cancelled")
    assert built_mail(app, cancelled.id)[0] == "Your instalment plan with My business was cancelled"
    owner_client.post(f"/admin/invoices/{invoices[1].id}/send", {"reminder": "1", "confirm": "1"})
    assert reminder_count(app, customer) == 2
    assert audit_actions(app, customer)[-2:] == ["instalment_plan.cancelled", "invoice.reminded"]
    # The dossier offers a new plan again.
    assert get(client, path).find(id="instalments-h").get_text(strip=True) == "Pay in instalments"


def test_one_running_plan_per_customer(app, client, debtor):
    customer, _ = debtor
    path = dossier_path(app, customer)
    first = soup_of(preview(client, path, "2"))
    second = soup_of(preview(client, path, "3"))
    assert client.post(f"{path}/instalments/confirm", data=confirm_values(first)).status_code == 302
    response = client.post(f"{path}/instalments/confirm", data=confirm_values(second))
    assert response.status_code == 422
    assert form_errors(soup_of(response)) == ["You already have an instalment plan."]
    assert [p.count for p in plans_of(app, customer)] == [2]


def test_a_change_between_preview_and_confirm_shows_the_new_schedule(app, client, debtor):
    customer, invoices = debtor
    path = dossier_path(app, customer)
    soup = soup_of(preview(client, path, "2"))
    with app.app_context():  # the first invoice is paid meanwhile
        paid = db.session.get(Document, invoices[0].id)
        paid.status, paid.amount_paid = DocumentStatus.paid, paid.gross_total
        db.session.commit()
    response = client.post(f"{path}/instalments/confirm", data=confirm_values(soup))
    assert response.status_code == 422
    soup = soup_of(response)
    assert form_errors(soup) == ["Your open invoices changed since you looked. Check the new schedule and confirm again."]
    assert [r[2] for r in schedule_rows(soup, "Your schedule")] == ["€30.25", "€30.25"]
    assert plans_of(app, customer) == []
    assert client.post(f"{path}/instalments/confirm", data=confirm_values(soup)).status_code == 302
    [plan] = plans_of(app, customer)
    assert plan.total == Decimal("60.50") and [d.id for d in plan.documents] == [invoices[1].id]


def test_tampered_hidden_values_are_checked_again(app, client, debtor):
    customer, _ = debtor
    path = dossier_path(app, customer)
    values = confirm_values(soup_of(preview(client, path, "2")))
    for change in ({"count": "60"}, {"start_date": "1999-01-01"}, {"currency": "USD"}, {"count": "x"},
                   {"total": "0.01"}, {"start_date": ""}):
        response = client.post(f"{path}/instalments/confirm", data={**values, **change})
        assert response.status_code == 422, change
        assert form_errors(soup_of(response)) or soup_of(response).find(class_="error"), change
    without_total = {k: v for k, v in values.items() if k != "total"}
    assert client.post(f"{path}/instalments/confirm", data=without_total).status_code == 422
    assert plans_of(app, customer) == []


def test_several_currencies_one_plan_per_currency_choice(app, client, debtor):
    customer, invoices = debtor
    dollars = factories.invoice(customer, amount="300.00", vat="0", currency="USD")
    path = dossier_path(app, customer)
    page = get(client, f"{path}/instalments")
    select_ = page.find(id=page.find("label", string="Currency")["for"])
    assert [o["value"] for o in select_.find_all("option")] == ["EUR", "USD"]
    arrange(client, path, "3", currency="USD")
    [plan] = plans_of(app, customer)
    assert (plan.currency, plan.total, [d.id for d in plan.documents]) == ("USD", Decimal("300.00"), [dollars.id])
    assert [i.amount for i in plan.instalments] == [Decimal("100.00")] * 3


def test_a_plan_whose_invoices_are_paid_is_completed(app, client, debtor):
    customer, invoices = debtor
    path = dossier_path(app, customer)
    arrange(client, path, "2")
    with app.app_context():
        for invoice in invoices:
            record = db.session.get(Document, invoice.id)
            record.status, record.amount_paid = DocumentStatus.paid, record.gross_total
        db.session.commit()
    page = get(client, f"{path}/instalments")
    assert plans_of(app, customer)[0].status == PlanStatus.completed
    assert page.find(class_="empty").get_text(strip=True) == "You have no open invoices to pay in instalments."


def test_money_paid_on_the_plans_invoices_pays_its_instalments_in_order(app, client, owner, debtor):
    """A bank transfer (or a payment staff record) on the plan's invoices, not the
    instalment's Pay button: the instalments it reaches count as paid, in order."""
    customer, invoices = debtor  # €121.00 + €60.50: three instalments of €60.50
    arrange(client, dossier_path(app, customer), "3")

    def pay(invoice, amount: str) -> list[bool]:
        with app.app_context():
            recorded_payments.record_payment(
                db.session.get(StaffUser, owner.id), db.session.get(Document, invoice.id), amount=Decimal(amount),
                received_on=TODAY, method=BANK_TRANSFER, today=TODAY)
            db.session.commit()
        plan = plans_of(app, customer)[0]
        return [instalment.paid_at is not None for instalment in plan.instalments]

    assert pay(invoices[0], "30.00") == [False, False, False]
    assert pay(invoices[0], "40.00") == [True, False, False]  # €70.00 reaches the first €60.50
    assert pay(invoices[0], "51.00") == [True, True, False]  # €121.00: exactly two
    assert pay(invoices[1], "60.50") == [True, True, True]
    assert plans_of(app, customer)[0].status == PlanStatus.completed


# --- who may do what -----------------------------------------------------------------------------


def test_an_employee_not_assigned_gets_404_and_an_assigned_one_decides(app, client, employee, employee_client, debtor):
    customer, _ = debtor
    set_settings(app, instalment_auto_approve_up_to=Decimal("0.00"))
    arrange(client, dossier_path(app, customer), "2")
    [plan] = plans_of(app, customer)
    for decision in ("approve", "decline", "cancel"):
        assert employee_client.post(f"/admin/instalment-plans/{plan.id}/{decision}").status_code == 404
    assert employee_client.get(f"/admin/customers/{customer.id}").status_code == 404
    assert plans_of(app, customer)[0].status == PlanStatus.pending

    mine = factories.customer(language="en", assigned_to=[employee])
    factories.invoice(mine, amount="500.00")
    arrange(client, dossier_path(app, mine), "2")
    [own] = plans_of(app, mine)
    assert employee_client.post(f"/admin/instalment-plans/{own.id}/approve").status_code == 302
    assert plans_of(app, mine)[0].status == PlanStatus.active
    for impossible in (0, 10**6, 2**31, 2**63):
        assert employee_client.post(f"/admin/instalment-plans/{impossible}/cancel").status_code == 404
    assert employee_client.post(f"/admin/instalment-plans/{own.id}/delete").status_code == 404


def test_another_customers_link_never_shows_or_touches_this_plan(app, client, debtor):
    customer, _ = debtor
    stranger = factories.customer(language="en", name="Stan Stranger")
    factories.invoice(stranger, amount="40.00", vat="0")
    arrange(client, dossier_path(app, customer), "2")
    theirs = dossier_path(app, stranger)
    page = get(client, f"{theirs}/instalments")
    assert page.find("h2", string="Your instalment plan") is None
    assert "181.50" not in page.get_text()
    # Their own plan is theirs alone: 40.00 cannot be split into 2 × 25.00.
    response = preview(client, theirs, "2")
    assert response.status_code == 422
    assert [p.customer_id for p in plans_of(app, customer)] == [customer.id]


def test_every_post_needs_the_csrf_token(app, client, owner_client, debtor):
    customer, _ = debtor
    path = dossier_path(app, customer)
    values = confirm_values(soup_of(preview(client, path, "2")))
    response = post(client, f"{path}/instalments/preview", {"currency": "EUR", "count": "2",
                    "start_date": TODAY.isoformat()}, token_from=path, csrf=False)
    assert response.status_code == 400
    assert client.post(f"{path}/instalments/confirm", data={**values, "csrf_token": ""}).status_code == 400
    assert plans_of(app, customer) == []
    set_settings(app, instalment_auto_approve_up_to=Decimal("0.00"))
    client.post(f"{path}/instalments/confirm", data=values)
    [plan] = plans_of(app, customer)
    for decision in ("approve", "decline", "cancel"):
        assert owner_client.client.post(f"/admin/instalment-plans/{plan.id}/{decision}").status_code == 400
    assert plans_of(app, customer)[0].status == PlanStatus.pending


def test_plans_switched_off_are_not_offered_and_refused(app, client, debtor):
    customer, _ = debtor
    path = dossier_path(app, customer)
    token = page_token(get(client, path))
    set_settings(app, allow_instalments=False)
    assert get(client, path).find(id="instalments-h") is None
    assert client.get(f"{path}/instalments").status_code == 404
    data = {"currency": "EUR", "count": "2", "start_date": TODAY.isoformat(), "total": "181.50", "csrf_token": token}
    assert client.post(f"{path}/instalments/preview", data=data).status_code == 404
    assert client.post(f"{path}/instalments/confirm", data=data).status_code == 404
    assert plans_of(app, customer) == []


def test_no_offer_when_the_amount_is_too_small(app, client):
    customer = factories.customer(language="en")
    factories.invoice(customer, amount="30.00", vat="0")
    assert get(client, dossier_path(app, customer)).find(id="instalments-h") is None


def test_a_plan_request_under_concurrency_makes_one_plan(app, debtor):
    """Two confirmations in a row from two sessions: the customer-row lock and the check after it."""
    from models.customers import Customer
    from models.services import instalments
    from models.services.errors import DomainError
    from models.services.settings import get_settings

    customer, _ = debtor
    with app.app_context(), app.test_request_context():
        record = db.session.get(Customer, customer.id)
        instalments.request_plan(get_settings(), record, currency="EUR", count=2, start_date=TODAY, today=TODAY)
        db.session.commit()
        with pytest.raises(DomainError):
            instalments.request_plan(get_settings(), record, currency="EUR", count=3, start_date=TODAY, today=TODAY)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(InstalmentPlan)) == 1


def test_without_an_e_mail_address_the_link_says_so_before_the_form(app, client):
    """From the link a plan needs the code sent to the primary address: a debtor without one
    is told so on the page, instead of filling in the form to be stopped at the code."""
    customer = factories.customer(name="Bram Mulder", language="en", email=None)
    factories.invoice(customer, amount="400.00")
    soup = get(client, f"{dossier_path(app, customer)}/instalments")
    assert soup.find("button", string="Show the schedule") is None and soup.find("input", value="Show the schedule") is None
    assert "we have none for you. Please contact us to arrange instalments." in soup.find(class_="alert").get_text()
