"""Paying through the built-in test provider, end to end: the dossier's Pay button, the
provider's checkout page, its Success / Failure / Cancel buttons, the way back."""

from __future__ import annotations

from decimal import Decimal

from models.payments import PaymentStatus
from tests import factories
from tests.conftest import soup_of
from tests.payments.conftest import (
    ENGLISH,
    Debtor,
    audit_actions,
    flashes,
    invoice_state,
    open_page,
    outbox_templates,
    page_token,
    pay,
    payments_of,
    token_for,
    use_provider,
)
from models import clock


def checkout(client, response, outcome: str):
    """Follow the redirect to the test checkout and press one of its buttons."""
    assert response.status_code == 303, (response.status_code, response.data[:300])
    page = client.get(response.headers["Location"], headers=ENGLISH)
    assert page.status_code == 200
    soup = soup_of(page)
    assert soup.h1.get_text(strip=True) == "Test payment"
    labels = {"success": "Success: pay", "failure": "Failure", "cancel": "Cancel payment"}
    button = soup.find("button", string=labels[outcome])
    form = button.find_parent("form")
    data = {i["name"]: i.get("value", "") for i in form.find_all("input")}
    done = client.post(form["action"], data=data, headers=ENGLISH)
    assert done.status_code == 303
    back = client.get(done.headers["Location"], headers=ENGLISH)  # the return URL
    assert back.status_code == 303
    return client.get(back.headers["Location"], headers=ENGLISH)  # the dossier, with the outcome


def test_pay_one_invoice_end_to_end(app, client, debtor: Debtor):
    soup = soup_of(open_page(client, debtor))
    row = soup.find("a", string=debtor.invoices["open"].number).find_parent("tr")
    button = row.find("button")
    assert button.get_text(" ", strip=True) == f"Pay {debtor.invoices['open'].number}"
    assert button["form"] == "pay-one" and soup.find(id="pay-one").find("input", attrs={"name": "csrf_token"})

    page = checkout(client, pay(client, debtor, debtor.invoices["open"].id), "success")

    assert flashes(page) == ["Payment received. Thank you!"]
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert invoice_state(app, debtor.invoices["partial"].id) == ("partially_paid", Decimal("42.00"))
    [payment] = payments_of(app, debtor.customer.id)
    assert (payment.provider, payment.status, payment.amount, payment.currency) == ("test", PaymentStatus.paid, Decimal("121.00"), "EUR")
    assert payment.booked_at is not None and payment.provider_ref.startswith("test_")
    assert outbox_templates(app, debtor.customer.id) == ["payment_received"]
    assert audit_actions(app) == ["payment.received"]
    # The paid invoice moved to the history.
    paid = soup_of(page).find("h2", string="Paid invoices").find_parent("section").get_text()
    assert debtor.invoices["open"].number in paid


def test_pay_all_open_invoices_end_to_end(app, client, debtor: Debtor):
    soup = soup_of(open_page(client, debtor))
    assert soup.find("button", string="Pay all open invoices (€321.00)") is not None

    page = checkout(client, pay(client, debtor, "all"), "success")

    assert flashes(page) == ["Payment received. Thank you!"]
    assert invoice_state(app, debtor.invoices["open"].id) == ("paid", Decimal("121.00"))
    assert invoice_state(app, debtor.invoices["partial"].id) == ("paid", Decimal("242.00"))
    assert invoice_state(app, debtor.invoices["paid"].id) == ("paid", Decimal("60.50"))  # untouched
    [payment] = payments_of(app, debtor.customer.id)
    assert payment.amount == Decimal("321.00")
    assert sorted((i.document_id, i.amount) for i in payment.items) == sorted(
        [(debtor.invoices["open"].id, Decimal("121.00")), (debtor.invoices["partial"].id, Decimal("200.00"))])
    assert outbox_templates(app, debtor.customer.id) == ["payment_received"]
    assert soup_of(page).find(class_="empty").get_text(strip=True) == "You have no open invoices."


def test_failure_and_cancel_leave_the_invoices_open(app, client, debtor: Debtor):
    for outcome, status in (("failure", PaymentStatus.failed), ("cancel", PaymentStatus.canceled)):
        page = checkout(client, pay(client, debtor, "all"), outcome)
        assert flashes(page) == ["The payment was not completed. Your invoices are still open."]
        assert payments_of(app, debtor.customer.id)[-1].status == status
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))
    assert invoice_state(app, debtor.invoices["partial"].id) == ("partially_paid", Decimal("42.00"))
    assert outbox_templates(app, debtor.customer.id) == []
    assert audit_actions(app) == []


def test_a_finished_test_payment_cannot_be_pressed_again(app, client, debtor: Debtor):
    response = pay(client, debtor, "all")
    checkout_url = response.headers["Location"]
    checkout(client, response, "cancel")
    # The page now sends the debtor to the outcome; pressing Success afterwards books nothing.
    again = client.get(checkout_url, headers=ENGLISH)
    assert again.status_code == 303 and "/pay/return/" in again.headers["Location"]
    token = page_token(open_page(client, debtor))  # the Pay form's: the invoices are still open
    late = client.post(checkout_url, data={"csrf_token": token, "outcome": "success"})
    assert late.status_code == 303
    assert invoice_state(app, debtor.invoices["open"].id) == ("open", Decimal("0.00"))
    assert payments_of(app, debtor.customer.id)[0].status == PaymentStatus.canceled


def test_a_second_click_goes_to_the_same_checkout(app, client, debtor: Debtor):
    first = pay(client, debtor, debtor.invoices["open"].id)
    second = pay(client, debtor, debtor.invoices["open"].id)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(payments_of(app, debtor.customer.id)) == 1
    other = pay(client, debtor, "all")  # a different set of invoices is a new payment
    assert other.headers["Location"] != first.headers["Location"]
    assert len(payments_of(app, debtor.customer.id)) == 2


def test_invoices_in_two_currencies_are_paid_per_currency(app, client):
    customer = factories.customer(language="en")
    eur = factories.invoice(customer, amount="10.00", vat="0")
    usd = factories.invoice(customer, amount="20.00", vat="0", currency="USD")
    debtor = Debtor(customer, token_for(app, customer))
    soup = soup_of(open_page(client, debtor))
    labels = sorted(b.get_text(strip=True) for b in soup.find_all("button") if "Pay all" in b.get_text())
    assert labels == ["Pay all open invoices ($20.00)", "Pay all open invoices (€10.00)"]

    refused = pay(client, debtor, "all")  # no currency chosen: refused with a message, not guessed
    assert refused.status_code == 422
    assert "more than one currency" in soup_of(refused).find(class_="alert-error").get_text()

    page = checkout(client, pay(client, debtor, "all", currency="USD"), "success")
    assert flashes(page) == ["Payment received. Thank you!"]
    assert invoice_state(app, usd.id)[0] == "paid" and invoice_state(app, eur.id)[0] == "open"
    [payment] = payments_of(app, customer.id)
    assert (payment.amount, payment.currency) == (Decimal("20.00"), "USD")


def test_nothing_to_pay_is_a_message_not_an_error(app, client, debtor: Debtor):
    response = pay(client, debtor, debtor.invoices["paid"].id)
    assert response.status_code == 422
    assert soup_of(response).find(class_="alert-error").get_text(strip=True) == "This invoice has nothing left to pay."
    assert payments_of(app, debtor.customer.id) == []


def test_no_pay_buttons_when_payments_are_off(app, client, debtor: Debtor):
    use_provider(app, "test", allow_payments=False)
    soup = soup_of(open_page(client, debtor))
    assert not [b for b in soup.find_all("button") if b.get_text(strip=True).startswith("Pay")]
    response = pay(client, debtor, "all")
    assert response.status_code == 409
    assert payments_of(app, debtor.customer.id) == []


def test_a_provider_without_keys_is_not_offered(app, client, debtor: Debtor):
    use_provider(app, "mollie")  # no MOLLIE_API_KEY in this app
    soup = soup_of(open_page(client, debtor))
    assert not [b for b in soup.find_all("button") if b.get_text(strip=True).startswith("Pay")]
    assert "Online payment is not available at the moment." in soup.get_text()
    response = pay(client, debtor, debtor.invoices["open"].id)
    assert response.status_code == 409
    assert "not available" in soup_of(response).find(class_="alert-error").get_text()
    invoice_page = soup_of(client.get(f"{debtor.url}/invoices/{debtor.invoices['open'].id}", headers=ENGLISH))
    assert "Online payment is not available at the moment." in invoice_page.get_text()


def test_the_invoice_page_has_a_pay_button(app, client, debtor: Debtor):
    soup = soup_of(client.get(f"{debtor.url}/invoices/{debtor.invoices['partial'].id}", headers=ENGLISH))
    button = soup.find("button", string="Pay €200.00 now")
    form = button.find_parent("form")
    data = {i["name"]: i["value"] for i in form.find_all("input")}
    response = client.post(form["action"], data=data)
    page = checkout(client, response, "success")
    assert flashes(page) == ["Payment received. Thank you!"]
    assert invoice_state(app, debtor.invoices["partial"].id) == ("paid", Decimal("242.00"))
    paid_page = soup_of(client.get(f"{debtor.url}/invoices/{debtor.invoices['partial'].id}", headers=ENGLISH))
    assert paid_page.find("button", string=lambda s: s and s.startswith("Pay")) is None


def test_staff_see_the_invoices_payments(app, client, owner_client, debtor: Debtor):
    checkout(client, pay(client, debtor, "all"), "success")
    soup = owner_client.soup(f"/admin/invoices/{debtor.invoices['open'].id}")
    section = soup.find(id="payments-h").find_parent("section")
    [row] = section.tbody.find_all("tr")
    cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
    assert cells[1] == "Test provider" and cells[2].startswith("test_")
    assert cells[3] == "€121.00 (of €321.00 for several invoices)" and cells[4] == "paid"
    overview = owner_client.soup(f"/admin/customers/{debtor.customer.id}")
    assert "Payment received" in overview.get_text()  # the outbox list names the mail


def test_paying_all_invoices_of_an_instalment_plan_completes_it(app, client, debtor: Debtor):
    """Payment booking ends a plan whose invoices are now all paid, without anyone looking."""

    from models.customers import Customer
    from models.db import db
    from models.instalments import InstalmentPlan, PlanStatus
    from models.services import instalments
    from models.services.settings import get_settings

    with app.app_context():
        customer = db.session.get(Customer, debtor.customer.id)
        plan = instalments.request_plan(get_settings(), customer, currency="EUR", count=2,
                                        start_date=clock.today(), today=clock.today())
        db.session.commit()
        assert plan.status == PlanStatus.active  # within the auto-approve limit
        plan_id = plan.id

    checkout(client, pay(client, debtor, "all"), "success")

    with app.app_context():
        assert db.session.get(InstalmentPlan, plan_id).status == PlanStatus.completed
