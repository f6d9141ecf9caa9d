"""Every domain action the business's package wants to learn about writes exactly one event
(models.services.events), from the service that owns the rule, with a small stable payload.

Called through the services (the admin, the portal and the API all call these), plus one
portal request and one staff request to show a view adds no second event.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from models.contacts import ContactPerson, ContactRole
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.events import Event
from models.instalments import InstalmentPlan
from models.outbox import MailCategory
from models.services import (
    contact_preferences,
    contacts,
    instalments,
    master_data,
    payments,
    provided_email,
    questions,
    quotes,
    recorded_payments,
)
from models.services.settings import get_settings
from models.staff import StaffUser
from tests import factories
from models import clock


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    """Outbox rows are written; Redis points at a closed port so nothing is enqueued."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


def events() -> list[Event]:
    rows = list(db.session.scalars(select(Event).order_by(Event.id)))
    return rows


def only_event(type_: str) -> Event:
    found = events()
    assert [e.type for e in found] == [type_], [e.type for e in found]
    return found[0]


@pytest.fixture
def debtor(app):
    customer = factories.customer(name="Dora Debtor", language="en", email="dora@example.test",
                                  external_id="ACC-7")
    invoice = factories.invoice(customer, amount="100.00")
    return customer, invoice


def test_a_recorded_payment(app, owner, debtor):
    customer, invoice = debtor
    with app.app_context():
        recorded_payments.record_payment(
            db.session.get(StaffUser, owner.id), db.session.get(Document, invoice.id), amount=Decimal("50.00"),
            received_on=clock.today(), method="bank_transfer", today=clock.today())
        db.session.commit()
        event = only_event("payment.received")
        assert event.customer_id == customer.id and event.document_id == invoice.id
        payment = event.data["payment"]
        assert payment["amount"] == "50.00" and payment["currency"] == "EUR" and payment["provider"] == "manual"
        assert payment["method"] == "bank_transfer"
        assert payment["invoices"] == [{"id": invoice.id, "number": invoice.number, "external_id": None,
                                        "amount": "50.00"}]
        assert event.data["customer"] == {"id": customer.id, "number": customer.number, "external_id": "ACC-7"}
        assert event.data["document"]["number"] == invoice.number


def test_an_online_payment_once_however_often_the_provider_reports_it(app, debtor):
    customer, invoice = debtor
    other = factories.invoice(customer, amount="20.00")
    with app.app_context():
        provider = payments.providers.get("test")
        payment = payments.start(db.session.get(Customer, customer.id), provider)
        db.session.commit()
        assert payments.test_outcome(payment, "success") == "booked"
        db.session.commit()
        state = payments.ProviderState(reference=payment.provider_ref or "", status=payments.PaymentStatus.paid,
                                       amount=payment.amount, currency=payment.currency)
        assert payments.record_state(payment, state) == "already booked"
        db.session.commit()
        event = only_event("payment.received")
        assert event.document_id is None  # two invoices: each named in the payment
        data = event.data["payment"]
        assert data["amount"] == "145.20" and data["provider"] == "test"
        assert [(i["id"], i["amount"]) for i in data["invoices"]] == [(invoice.id, "121.00"), (other.id, "24.20")]


@pytest.mark.parametrize("accept", [True, False])
def test_a_quote_decision(app, accept):
    customer = factories.customer()
    quote = factories.document(customer, "quote", amount="300.00", vat="0")
    with app.app_context():
        quotes.decide(db.session.get(Document, quote.id), accept=accept, name="  Dora   Debtor ", comment="ok",
                      today=clock.today())
        db.session.commit()
        event = only_event("quote.accepted" if accept else "quote.rejected")
        assert event.document_id == quote.id
        assert event.data["document"] == {"id": quote.id, "kind": "quote", "number": quote.number, "external_id": None}
        decision = event.data["decision"]
        assert decision["name"] == "Dora Debtor" and decision["comment"] == "ok"
        assert decision["total"] == "300.00" and decision["currency"] == "EUR"


def test_a_refused_decision_records_nothing(app):
    customer = factories.customer()
    quote = factories.document(customer, "quote")
    with app.app_context():
        with pytest.raises(Exception):
            quotes.decide(db.session.get(Document, quote.id), accept=True, name="", comment="", today=clock.today())
        db.session.rollback()
        assert events() == []


def test_a_question(app, debtor):
    customer, invoice = debtor
    with app.app_context():
        message = questions.ask(db.session.get(Customer, customer.id), db.session.get(Document, invoice.id),
                                "  Why this amount?  ")
        db.session.commit()
        event = only_event("question.asked")
        assert event.data["question"] == {"id": message.id, "text": "Why this amount?"}
        assert event.document_id == invoice.id


def test_an_email_address_provided(app):
    customer = factories.customer(email=None)
    with app.app_context():
        provided_email.provide(db.session.get(Customer, customer.id), "New@Example.com")
        db.session.commit()
        event = only_event("email.provided")
        assert event.customer_id == customer.id
        assert event.data["email"].lower() == "new@example.com"


def _allow_instalments(app, auto_up_to: str) -> None:
    with app.app_context():
        settings = get_settings(for_update=True)
        settings.allow_instalments = True
        settings.instalment_auto_approve_up_to = Decimal(auto_up_to)
        db.session.commit()


def test_an_instalment_plan_requested_then_approved(app, owner, debtor):
    customer, invoice = debtor
    _allow_instalments(app, "0.00")
    with app.app_context():
        plan = instalments.request_plan(get_settings(), db.session.get(Customer, customer.id), currency="EUR",
                                        count=2, start_date=clock.today(), today=clock.today())
        db.session.commit()
        event = only_event("instalment_plan.requested")
        data = event.data["instalment_plan"]
        assert data["status"] == "pending" and data["count"] == 2 and data["total"] == "121.00"
        assert [i["amount"] for i in data["instalments"]] == ["60.50", "60.50"]
        assert data["invoices"] == [{"id": invoice.id, "number": invoice.number, "external_id": None}]
        instalments.approve(db.session.get(StaffUser, owner.id), db.session.get(InstalmentPlan, plan.id))
        db.session.commit()
        assert [e.type for e in events()] == ["instalment_plan.requested", "instalment_plan.approved"]
        approved = events()[1].data["instalment_plan"]
        assert approved["status"] == "active" and approved["approved_by"] == "staff"


def test_an_instalment_plan_agreed_at_once_is_requested_and_approved(app, debtor):
    customer, _invoice = debtor
    _allow_instalments(app, "1000.00")
    with app.app_context():
        instalments.request_plan(get_settings(), db.session.get(Customer, customer.id), currency="EUR",
                                 count=2, start_date=clock.today(), today=clock.today())
        db.session.commit()
        found = events()
        assert [e.type for e in found] == ["instalment_plan.requested", "instalment_plan.approved"]
        assert found[1].data["instalment_plan"]["approved_by"] == "automatic"


def test_declining_a_plan_is_no_event(app, owner, debtor):
    customer, _invoice = debtor
    _allow_instalments(app, "0.00")
    with app.app_context():
        plan = instalments.request_plan(get_settings(), db.session.get(Customer, customer.id), currency="EUR",
                                        count=2, start_date=clock.today(), today=clock.today())
        db.session.commit()
        instalments.decline(db.session.get(StaffUser, owner.id), plan)
        db.session.commit()
        assert [e.type for e in events()] == ["instalment_plan.requested"]


def _input(**values) -> contacts.ContactInput:
    data = dict(name="Carl Contact", email="carl@example.com", phone=None, role=ContactRole.billing,
                invoice_emails=True, account_emails=False)
    data.update(values)
    return contacts.ContactInput(**data)


def test_contact_persons_added_updated_removed(app, owner):
    customer = factories.customer()
    with app.app_context():
        actor = contacts.Actor(staff=db.session.get(StaffUser, owner.id))
        record = db.session.get(Customer, customer.id)
        contact = contacts.add_contact(actor, record, _input())
        db.session.commit()
        added = only_event("contact_persons.changed")
        assert added.data["action"] == "added"
        assert added.data["contact_person"] == {
            "id": contact.id, "name": "Carl Contact", "email": "carl@example.com", "phone": None,
            "role": "billing", "invoice_emails": True, "account_emails": False}
        contacts.update_contact(actor, record, contact, _input(phone="+31 20 1234567"))
        db.session.commit()
        contacts.update_contact(actor, record, contact, _input(phone="+31 20 1234567"))  # unchanged: no event
        db.session.commit()
        contacts.remove_contact(actor, contact)
        db.session.commit()
        found = events()
        assert [(e.type, e.data["action"]) for e in found] == [
            ("contact_persons.changed", "added"), ("contact_persons.changed", "updated"),
            ("contact_persons.changed", "removed")]
        assert found[1].data["changed"] == ["phone"]
        assert found[2].data["contact_person"]["id"] == contact.id


def test_a_contact_persons_own_choice_of_mail(app):
    customer = factories.customer()
    with app.app_context():
        contact = ContactPerson(customer_id=customer.id, name="Carl", email="carl@example.com",
                                invoice_emails=True, account_emails=False)
        db.session.add(contact)
        db.session.commit()
        contact_preferences.unsubscribe(contact, MailCategory.invoice)
        db.session.commit()
        contact_preferences.unsubscribe(contact, MailCategory.invoice)  # already off: no event
        db.session.commit()
        event = only_event("contact_persons.changed")
        assert event.data["action"] == "preferences" and event.data["changed"] == ["invoice_emails"]
        assert event.data["contact_person"]["invoice_emails"] is False


def test_master_data_changed_by_the_customer(app):
    customer = factories.customer(street="Old street 1", city="Utrecht", postal_code="1234 AB")
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        master_data.save_address(master_data.CustomerActor(), record, get_settings(),
                                 {"street": "New street 2", "postal_code": "1234 AB", "city": "Utrecht",
                                  "country": "NL"})
        db.session.commit()
        event = only_event("master_data.changed")
        assert event.data["changed"] == {"street": "New street 2"}
        master_data.save_address(master_data.CustomerActor(), record, get_settings(),
                                 {"street": "New street 2", "postal_code": "1234 AB", "city": "Utrecht",
                                  "country": "NL"})  # the same again: no change, no event
        db.session.commit()
        assert len(events()) == 1


def test_a_rolled_back_change_leaves_no_event(app):
    customer = factories.customer(email=None)
    with app.app_context():
        provided_email.provide(db.session.get(Customer, customer.id), "new@example.com")
        db.session.rollback()
        assert events() == []


# --- through the views: one event per request, not one per layer ---------------------------


def test_staff_recording_a_payment_writes_one_event(app, owner_client, debtor):
    customer, invoice = debtor
    response = owner_client.post(f"/admin/documents/{invoice.id}/payments", data={
        "amount": "10.00", "received_on": clock.today().isoformat(), "method": "bank_transfer"})
    assert response.status_code in (200, 302, 303), response.data[:500]
    with app.app_context():
        assert only_event("payment.received").data["payment"]["amount"] == "10.00"


def test_staff_accepting_a_quote_writes_one_event(app, owner_client):
    customer = factories.customer()
    quote = factories.document(customer, "quote", valid_days=10)
    with app.app_context():
        assert events() == []
    response = owner_client.post(f"/admin/documents/{quote.id}/decision",
                                 data={"decision": "accept", "name": "Dora", "comment": ""})
    assert response.status_code in (200, 302, 303), response.data[:500]
    with app.app_context():
        only_event("quote.accepted")


def test_unknown_types_are_refused(app):
    from models.services import events as event_service

    with app.app_context(), pytest.raises(ValueError):
        event_service.record("payment.maybe")


def test_today_is_used_for_dates(app):
    """Guard against a payload date that is not JSON-safe (the column is JSON)."""
    customer = factories.customer()
    quote = factories.document(customer, "quote", issue_date=clock.today() - timedelta(days=1))
    with app.app_context():
        quotes.decide(db.session.get(Document, quote.id), accept=True, name="X", comment="", today=clock.today())
        db.session.commit()
        db.session.expire_all()
        assert isinstance(only_event("quote.accepted").data["decision"]["decided_at"], str)
