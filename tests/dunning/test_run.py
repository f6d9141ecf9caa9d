"""A reminder run over generated data: levels escalating over the days, grouping per
customer, what is skipped (plans, questions, holds, disputes), fee and interest exact, the
letter list for customers without e-mail, idempotence, and a dry run that writes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.documents import Document, DocumentStatus
from models.dunning import DunningChannel
from models.instalments import PlanStatus
from models.services import dunning
from tests import factories
from tests.conftest import count_queries
from tests.dunning.helpers import (TODAY, ask_question, emails, notices, overdue, plan, reminders_of, row_counts,
                                   run, schedule)


def test_levels_escalate_over_the_days_and_each_goes_out_once(app):
    schedule(app)
    customer = factories.customer()
    invoice = overdue(customer, 0)  # due today
    due = TODAY
    assert run(app, due + timedelta(days=6)).reminders == []
    first = run(app, due + timedelta(days=7))
    assert [(r.level, r.channel) for r in first.reminders] == [(1, DunningChannel.email)]
    assert run(app, due + timedelta(days=7)).reminders == []  # the same day again: nothing
    assert run(app, due + timedelta(days=20)).reminders == []
    assert [r.level for r in run(app, due + timedelta(days=21)).reminders] == [2]
    assert run(app, due + timedelta(days=34)).reminders == []
    assert [r.level for r in run(app, due + timedelta(days=35)).reminders] == [3]
    assert run(app, due + timedelta(days=90)).reminders == []  # nothing after the final notice
    assert [(level, numbers) for _c, level, numbers, *_ in reminders_of(app)] == [
        (1, [invoice.number]), (2, [invoice.number]), (3, [invoice.number])]
    mails = emails(app, "document_reminder")
    assert [m.context["dunning_level"] for m in mails] == [1, 2, 3]
    assert all(m.customer_id == customer.id and m.document_id for m in mails)


def test_an_invoice_long_overdue_starts_at_the_first_level_and_waits_for_the_next(app):
    schedule(app)
    customer = factories.customer()
    overdue(customer, 50)
    assert [r.level for r in run(app, TODAY).reminders] == [1]
    # The 2nd reminder comes 14 days (21 - 7) after the first, not the next day.
    assert run(app, TODAY + timedelta(days=13)).reminders == []
    assert [r.level for r in run(app, TODAY + timedelta(days=14)).reminders] == [2]


def test_a_manual_reminder_counts_as_the_level_it_was(app):
    schedule(app)
    customer = factories.customer()
    invoice = overdue(customer, 30)
    factories.reminder(customer, [invoice], level=1, issue_date=TODAY - timedelta(days=20))
    assert [r.level for r in run(app, TODAY).reminders] == [2]


def test_one_reminder_per_customer_and_level_listing_its_invoices(app):
    schedule(app)
    alice, bob = factories.customer(), factories.customer()
    a1, a2 = overdue(alice, 10), overdue(alice, 8)
    overdue(alice, 3)  # not due for a reminder yet
    a_old = overdue(alice, 30)
    factories.reminder(alice, [a_old], level=1, issue_date=TODAY - timedelta(days=14))
    b1 = overdue(bob, 40, amount="50.00", status=DocumentStatus.partially_paid, amount_paid="20.00")
    result = run(app, TODAY)
    got = sorted((r.customer_id, r.level, sorted(n for _i, n, _o, _d in r.invoices)) for r in result.reminders)
    assert got == sorted([(alice.id, 1, sorted([a1.number, a2.number])), (alice.id, 2, [a_old.number]),
                          (bob.id, 1, [b1.number])])
    bob_reminder = next(r for r in result.reminders if r.customer_id == bob.id)
    assert bob_reminder.invoices[0][2] == Decimal("30.00")  # what is outstanding, not the total


def test_skipped_plans_questions_holds_disputes_and_archived(app, owner_client):
    schedule(app)
    active, pending, declined = factories.customer(), factories.customer(), factories.customer()
    questioned, held, disputed, archived = (factories.customer() for _ in range(4))
    plan(app, active, [overdue(active, 10)], PlanStatus.active)
    overdue(active, 12)  # the customer is skipped, not only the invoice in the plan
    plan(app, pending, [overdue(pending, 10)], PlanStatus.pending)
    plan(app, declined, [overdue(declined, 10)], PlanStatus.declined)
    asked, other = overdue(questioned, 10), overdue(questioned, 11)
    ask_question(app, asked)
    overdue(held, 10)
    quarrel, fine = overdue(disputed, 10), overdue(disputed, 10)
    overdue(archived, 10)
    with app.app_context():
        db.session.get(Customer, archived.id).archived_at = db.func.now()
        db.session.commit()
    # Staff put the hold and the dispute through their pages (audited).
    assert owner_client.post(f"/admin/customers/{held.id}/dunning-hold", data={"value": "1"}).status_code == 302
    assert owner_client.post(f"/admin/documents/{quarrel.id}/dispute", data={"value": "1"}).status_code == 302
    result = run(app, TODAY)
    got = {(r.customer_id, tuple(n for _i, n, _o, _d in r.invoices)) for r in result.reminders}
    assert got == {(declined.id, (next(iter(reminders_numbers(app, declined))),)),
                   (questioned.id, (other.number,)), (disputed.id, (fine.number,))}
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.in_(["customer.dunning_hold", "document.disputed"]))))
    assert actions == {"customer.dunning_hold", "document.disputed"}
    # Released: the next run reminds them.
    owner_client.post(f"/admin/customers/{held.id}/dunning-hold", data={"value": "0"})
    owner_client.post(f"/admin/documents/{quarrel.id}/dispute", data={"value": "0"})
    assert {r.customer_id for r in run(app, TODAY).reminders} == {held.id, disputed.id}


def reminders_numbers(app, customer) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Document.number).where(Document.customer_id == customer.id,
                                                                     Document.kind == "invoice")))


def test_fee_and_interest_are_exact(app):
    schedule(app, level1=(7, "5.00", "8.000"))
    customer = factories.customer()
    overdue(customer, 30, amount="1000.00")
    overdue(customer, 10, amount="333.33")
    [reminder] = run(app, TODAY).reminders
    # (1000.00 × 8 × 30 + 333.33 × 8 × 10) / (100 × 365) = 7.30593… → 7.31
    assert (reminder.fee, reminder.interest) == (Decimal("5.00"), Decimal("7.31"))
    [(_c, _l, _n, fee, interest, sent)] = reminders_of(app)
    assert (fee, interest, sent) == (Decimal("5.00"), Decimal("7.31"), True)
    with app.app_context():
        document = db.session.scalar(select(Document).where(Document.kind == "reminder"))
        assert document.gross_total == Decimal("12.31") and document.status == DocumentStatus.open


def test_interest_rounds_half_up(app):
    schedule(app, level1=(1, None, "1.000"))
    customer = factories.customer()
    overdue(customer, 1, amount="182.50")  # 182.50 × 1 × 1 / 36500 = 0.005 exactly
    [reminder] = run(app, TODAY).reminders
    assert reminder.interest == Decimal("0.01")
    assert dunning.interest([(Decimal("182.49"), 1)], Decimal("1")) == Decimal("0.00")


def test_customers_without_email_go_on_the_letter_list(app, owner_client):
    schedule(app, level1=(7, None, None, {"nl": {"letter": "Beste {customer_name}, factuur {document_number} staat open."}}))
    customer = factories.customer(email=None, name="Piet Brief", street="Kerkstraat 1", postal_code="1234 AB",
                                  city="Utrecht")
    invoice = overdue(customer, 10)
    [reminder] = run(app, TODAY).reminders
    assert reminder.channel == DunningChannel.letter
    assert emails(app) == []
    [(_c, _l, _n, _f, _i, sent)] = reminders_of(app)
    assert not sent  # sent once printed
    link = owner_client.soup("/admin/documents").find("a", string="Reminder letters to print")
    soup = owner_client.soup(link["href"])
    table = soup.find("table", id="letters")
    assert "Piet Brief" in table.get_text()
    link = table.find("a", string=f"Reminder letter for {invoice.number}")
    letter = owner_client.soup(link["href"])
    assert letter.find(id="intro").get_text(strip=True) == f"Beste Piet Brief, factuur {invoice.number} staat open."
    form = table.find("form")
    response = owner_client.post(form["action"], data={"notices": form.find("input", attrs={"name": "notices"})["value"]})
    assert response.status_code == 302
    assert owner_client.soup("/admin/reminders/letters").find("table", id="letters") is None
    [(_c, _l, _n, _f, _i, sent)] = reminders_of(app)
    assert sent
    assert owner_client.post("/admin/reminders/letters/printed", data={"notices": "x"}).status_code == 422


def test_an_employee_sees_only_letters_of_their_customers(app, employee, employee_client):
    schedule(app)
    mine = factories.customer(email=None, name="Mine Letter", assigned_to=[employee])
    theirs = factories.customer(email=None, name="Theirs Letter")
    overdue(mine, 10), overdue(theirs, 10)
    run(app, TODAY)
    text = employee_client.soup("/admin/reminders/letters").find("table", id="letters").get_text()
    assert "Mine Letter" in text and "Theirs Letter" not in text
    their_ids = ",".join(str(n.id) for n in notices(app) if n.customer_id == theirs.id)
    employee_client.post("/admin/reminders/letters/printed", data={"notices": their_ids})
    assert all(n.printed_at is None for n in notices(app) if n.customer_id == theirs.id)


def test_instalments_due_get_their_own_reminder(app):
    schedule(app)
    customer = factories.customer()
    plan_id = plan(app, customer, [overdue(customer, 40)], PlanStatus.active,
                   due=[TODAY - timedelta(days=8), TODAY - timedelta(days=3), TODAY + timedelta(days=20)])
    result = run(app, TODAY)
    assert result.reminders == []  # the plan's customer gets no invoice reminders
    assert [(i.plan_id, i.position) for i in result.instalments] == [(plan_id, 1)]
    [mail] = emails(app, "instalment_reminder")
    assert mail.context["position"] == 1 and mail.context["amount"] == "50.00"
    assert run(app, TODAY).instalments == []
    assert [i.position for i in run(app, TODAY + timedelta(days=4)).instalments] == [2]


def test_a_dry_run_writes_nothing(app):
    schedule(app, level1=(7, "5.00", "8"))
    customer, letter = factories.customer(), factories.customer(email=None)
    overdue(customer, 10), overdue(letter, 10)
    plan(app, customer, [], PlanStatus.cancelled)
    before = row_counts(app)
    result = run(app, TODAY, dry_run=True)
    assert len(result.reminders) == 2 and result.dry_run
    assert row_counts(app) == before
    assert len(run(app, TODAY).reminders) == 2  # the real run still sends them


def test_the_run_is_logged_on_the_customers_overview(app, owner_client):
    schedule(app)
    customer = factories.customer()
    invoice = overdue(customer, 10)
    run(app, TODAY)
    soup = owner_client.soup(f"/admin/customers/{customer.id}")
    events = soup.find(id="reminder-events").get_text(" ", strip=True)
    assert "Reminder sent" in events and invoice.number in events
    assert soup.find("button", string="Hold automatic reminders") is not None


def test_constant_statements_per_batch(app):
    """A batch costs the same number of statements with 10 customers as with 40 (after a
    first run that created the year's reminder counter)."""
    schedule(app, level1=(7, "2.50", "8"))
    counts = []
    for size in (2, 10, 40):
        customers = [factories.customer(email=None if n % 3 == 0 else f"c{size}-{n}@example.test")
                     for n in range(size)]
        for n, customer in enumerate(customers):
            overdue(customer, 10 + n % 5)
            overdue(customer, 25)
        with count_queries(app) as statements:
            result = run(app, TODAY, batch_size=size)
        assert len(result.reminders) == size
        counts.append(len(statements))
    assert counts[1] == counts[2], counts


def test_the_letter_list_costs_the_same_statements_for_2_or_20_letters(app, owner_client):
    schedule(app)
    counts = []
    for size in (2, 20):
        for n in range(size):
            overdue(factories.customer(email=None, name=f"Letter {size}-{n}"), 10)
        run(app, TODAY)
        owner_client.get("/admin/reminders/letters")
        with count_queries(app) as statements:
            soup = owner_client.soup("/admin/reminders/letters")
        assert len(soup.find("table", id="letters").find("tbody").find_all("tr")) == size + (2 if size == 20 else 0)
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
