"""`seed-demo`: every kind in every state whatever day it runs, amounts that add up, and
addresses the app itself accepts (as staff adding one as a portal login would find)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import clock
from models.contacts import ContactPerson
from models.customers import Customer
from models.db import db
from models.documents import RECEIVABLE_KINDS, Document, DocumentKind, DocumentStatus, ReminderItem
from models.payments import CREDIT, MANUAL, Payment, PaymentItem
from models.portal_access import PortalAccess, PortalUser
from models.services import addresses, credits, demo, portal_access, quotes
from models.staff import StaffUser
from tests.conftest import soup_of

ZERO = Decimal("0.00")
# The documented logins (README, Makefile): e-mail syntax refuses the special-use ".test"
# domain, but nobody adds these as a customer's address; they are only typed to log in.
DOCUMENTED_LOGINS = {demo.DEMO_PORTAL_LOGIN, "invited@dossier.test"}


def _seed(app, today: date | None = None, monkeypatch=None, **sizes) -> date:
    if today is not None:
        monkeypatch.setattr(clock, "today", lambda now=None: today)
    with app.app_context():
        demo.seed(**sizes)
        db.session.commit()
    return today or clock.today()


def _documents() -> list[Document]:
    return list(db.session.scalars(select(Document).order_by(Document.id)))


@pytest.mark.parametrize("today", [None, date(2025, 1, 15)], ids=["today", "early-in-a-year"])
def test_every_kind_and_state_exists_relative_to_today(app, monkeypatch, today):
    today = _seed(app, today, monkeypatch)
    with app.app_context():
        documents = _documents()
        kinds = {d.kind for d in documents}
        assert kinds == set(DocumentKind)
        invoices = [d for d in documents if d.kind == DocumentKind.invoice]
        statuses = {d.status for d in invoices}
        assert {DocumentStatus.draft, DocumentStatus.open, DocumentStatus.partially_paid, DocumentStatus.paid,
                DocumentStatus.cancelled} <= statuses

        unpaid = [d for d in invoices if d.status in (DocumentStatus.open, DocumentStatus.partially_paid)]
        not_due = [d for d in unpaid if not d.is_overdue(today)]
        assert not_due, "every demo invoice is overdue"
        assert all(d.due_date >= today for d in not_due)
        # the dashboard's ageing buckets each have data
        late = [(today - d.due_date).days for d in unpaid if d.is_overdue(today)]
        for low, high in ((1, 30), (31, 60), (61, 90), (91, 10_000)):
            assert any(low <= days <= high for days in late), (low, high)

        written_off = [d for d in invoices if d.amount_written_off > 0]
        assert written_off and all(d.written_off_on is not None and d.outstanding == 0 for d in written_off)
        credit_notes = [d for d in documents if d.kind == DocumentKind.credit_note]
        assert any(n.related.status == DocumentStatus.cancelled for n in credit_notes)  # cancelled after it was sent
        assert all(n.related is not None and n.related.kind == DocumentKind.invoice for n in credit_notes)
        # a credit note larger than what was left on its invoice: customer credit on the overview
        assert any(n.gross_total > n.related.amount_credited
                   for n in credit_notes if n.related.status != DocumentStatus.cancelled)
        assert any(credits.balance(customer_id).get("EUR", ZERO) > 0
                   for customer_id in {d.customer_id for d in documents})

        recorded = db.session.scalars(
            select(Document).join(PaymentItem, PaymentItem.document_id == Document.id)
            .join(Payment, Payment.id == PaymentItem.payment_id)
            .where(Payment.provider == MANUAL, Document.status == DocumentStatus.partially_paid)).all()
        assert recorded, "no partly paid invoice with a payment staff recorded"

        drafts = [d for d in invoices if d.status == DocumentStatus.draft]
        assert drafts and all(d.number is None and d.sent_at is None for d in drafts)

        quote_list = [d for d in documents if d.kind == DocumentKind.quote]
        assert any(q.status == DocumentStatus.pending and not quotes.is_expired(q, today) for q in quote_list)
        assert any(quotes.is_expired(q, today) for q in quote_list)
        assert any(q.status == DocumentStatus.rejected and q.decided_by_name for q in quote_list)
        accepted = [q for q in quote_list if q.status == DocumentStatus.accepted]
        assert accepted
        made_from = {d.kind for d in documents if d.related_id in {q.id for q in accepted}}
        assert DocumentKind.order_confirmation in made_from

        reminders = [d for d in documents if d.kind == DocumentKind.reminder]
        assert {r.reminder_level for r in reminders} == {1, 2, 3}
        assert any(r.reminder_level == 1 and not r.fee for r in reminders)
        for reminder in (r for r in reminders if r.reminder_level > 1):
            assert reminder.fee > 0 and reminder.interest > 0
            assert reminder.gross_total == reminder.fee + reminder.interest
        assert db.session.scalar(select(func.count()).select_from(ReminderItem)) >= len(reminders)


def test_amounts_add_up(app):
    """Outstanding is never negative, the status follows from the amounts, what was paid is
    what the payments say, and each customer's statement balance is what they owe less
    their credit."""
    _seed(app)
    with app.app_context():
        documents = _documents()
        paid_by_payments: dict[int, Decimal] = defaultdict(lambda: ZERO)
        received: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for payment in db.session.scalars(select(Payment).where(Payment.booked_at.is_not(None),
                                                                Payment.reversed_at.is_(None))):
            for item in payment.items:
                paid_by_payments[item.document_id] += item.amount
            if payment.provider != CREDIT:
                received[payment.customer_id] += payment.amount
        assert received, "no payments"

        statement: dict[int, Decimal] = defaultdict(lambda: ZERO)
        owed: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for d in documents:
            if d.kind in RECEIVABLE_KINDS and d.status != DocumentStatus.draft:
                assert d.outstanding >= 0, d.number
                assert d.amount_paid == paid_by_payments[d.id], d.number
                settled = d.amount_paid + d.amount_credited + d.amount_written_off
                if d.status != DocumentStatus.cancelled:
                    if d.status != DocumentStatus.issued:  # a reminder without fee: nothing of its own
                        assert (d.status == DocumentStatus.paid) == (d.outstanding == 0), d.number
                    expected = {DocumentStatus.paid: d.outstanding == 0,
                                DocumentStatus.partially_paid: 0 < settled < d.gross_total,
                                DocumentStatus.open: settled == 0,
                                DocumentStatus.issued: d.gross_total == 0}[d.status]
                    assert expected, (d.number, d.status)
                    owed[d.customer_id] += d.outstanding
                if d.status != DocumentStatus.cancelled or d.sent_at is not None:
                    statement[d.customer_id] += d.gross_total
                statement[d.customer_id] -= d.amount_written_off
            elif d.kind == DocumentKind.credit_note:
                statement[d.customer_id] -= d.gross_total
            elif d.kind != DocumentKind.invoice:
                assert d.amount_paid == d.amount_credited == d.amount_written_off == ZERO
        for customer_id, amount in received.items():
            statement[customer_id] -= amount
        for customer_id in set(statement) | set(owed):
            credit = credits.balance(customer_id).get("EUR", ZERO)
            assert statement[customer_id] == owed[customer_id] - credit, customer_id


def test_every_address_passes_the_check_staff_use_for_a_login(app, owner_client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # invitations stay queued
    _seed(app)
    with app.app_context():
        found = [
            *db.session.scalars(select(Customer.email).where(Customer.email.is_not(None))),
            *db.session.scalars(select(Customer.provided_email).where(Customer.provided_email.is_not(None))),
            *db.session.scalars(select(ContactPerson.email)),
            *(email for email in db.session.scalars(select(PortalUser.email)) if email not in DOCUMENTED_LOGINS),
        ]
        for address in found:
            # the form's check (web.forms.ValidEmail) and the service's behind "Add login"
            assert addresses.normalised(address) == address, address
            assert portal_access.normalise_email(address) == address
        assert db.session.scalar(select(func.count()).select_from(ContactPerson)), "no contact persons"
        company = db.session.scalar(select(Customer).where(Customer.company_name.is_not(None),
                                                           Customer.email.is_not(None)).order_by(Customer.id))
        assert ".." not in company.email and "-" in company.email.split("@")[0]
        customer_id, email = company.id, company.email

    # What the issue tried: staff add the company's own address as its login.
    response = owner_client.post(f"/admin/customers/{customer_id}/portal-logins",
                                 data={"action": "add", "add-email": email})
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:500]
    with app.app_context():
        assert db.session.scalar(
            select(func.count()).select_from(PortalAccess).join(PortalUser)
            .where(PortalAccess.customer_id == customer_id, PortalUser.email == email)) == 1


@pytest.mark.parametrize("name, separator, slug", [
    ("Bakker Bloemenhandel B.V.", "-", "bakker-bloemenhandel-bv"),
    ("Müller Maschinenbau GmbH", "-", "mueller-maschinenbau-gmbh"),
    ("Chloé van den Berg", ".", "chloe.van.den.berg"),
    ("  .. ", "-", "customer"),
])
def test_address_slug(name, separator, slug):
    assert demo.address_slug(name, separator) == slug
    assert addresses.normalised(f"{slug}-26@example.nl") is not None


def test_seeding_twice_adds_a_second_batch(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--customers", "8", "--invoices", "20"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["seed-demo", "--customers", "8", "--invoices", "20"])
    assert second.exit_code == 0, second.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 16
        assert db.session.scalar(select(func.count()).select_from(StaffUser)) == len(demo.DEMO_STAFF)
        per_kind = dict(db.session.execute(select(Document.kind, func.count()).group_by(Document.kind)).all())
        assert per_kind[DocumentKind.quote] == 8  # the showcase twice
        # numbers continue where the first batch stopped (a collision would have failed the insert)
        numbers = db.session.scalars(select(Document.number).where(Document.kind == DocumentKind.invoice,
                                                                   Document.number.is_not(None))).all()
        assert len(numbers) == len(set(numbers)) == per_kind[DocumentKind.invoice] - 2  # two drafts
        assert len(set(db.session.scalars(select(Customer.number)))) == 16
    assert "8 customers" in second.output  # each run reports its own batch


def test_a_new_document_after_the_demo_gets_the_next_number(app, monkeypatch):
    """Staff's first invoice continues the demo's numbering (the counters were advanced)."""
    today = _seed(app, None, monkeypatch, customers=5, invoices=30)
    from models.services.documents import LineInput, create_document

    with app.app_context():
        customer = db.session.scalar(select(Customer).order_by(Customer.id))
        invoice = create_document(None, customer, DocumentKind.invoice, issue_date=today,
                                  due_date=today + timedelta(days=14), currency="EUR",
                                  lines=[LineInput("Work", Decimal("1"), Decimal("10.00"), Decimal("21"))])
        this_year = db.session.scalars(select(Document.number).where(
            Document.kind == DocumentKind.invoice, Document.number.like(f"{today.year}-%"),
            Document.id != invoice.id)).all()
        assert invoice.number == f"{today.year}-{len(this_year) + 1:05d}"
        db.session.rollback()
