"""What an automatic reminder says (its level's text, in the customer's language), the
instalment reminder, and `flask --app wsgi reminders run`."""

from __future__ import annotations

from datetime import timedelta

from mailers import messages, routing
from models import clock
from models.customers import Customer
from models.db import db
from models.instalments import PlanStatus
from models.outbox import OutboundEmail
from tests import factories
from tests.dunning.helpers import TODAY, emails, overdue, plan, reminders_of, row_counts, run, schedule


def built(app, email_id: int):
    with app.app_context():
        email = db.session.get(OutboundEmail, email_id)
        customer = db.session.get(Customer, email.customer_id)
        return messages.build(email, customer, routing.recipients_for(email, customer))


def test_the_mail_opens_with_the_levels_text_in_the_customers_language(app):
    schedule(app, level1=(7, "5.00", None, {"de": {"mail": "Hallo {customer_name}, Mahnung {document_number}."}}))
    german = factories.customer(language="de", name="Greta Gruber")
    english = factories.customer(language="en", name="Emma English")
    invoice = overdue(german, 10, amount="80.00")
    overdue(english, 10)
    run(app, TODAY)
    by_customer = {m.customer_id: m.id for m in emails(app, "document_reminder")}
    german_mail = built(app, by_customer[german.id])
    [(_c, _l, _n, _f, _i, _s)] = reminders_of(app, german)
    assert "Hallo Greta Gruber, Mahnung R-" in german_mail.message.body
    assert invoice.number in german_mail.message.body and "85,00" in german_mail.message.body  # 80 + fee 5
    english_mail = built(app, by_customer[english.id]).message.body
    assert "Perhaps this has slipped your mind" in english_mail  # the level's standard text


def test_the_final_notice_has_its_own_standard_text(app):
    schedule(app)
    customer = factories.customer(language="en")
    overdue(customer, 40)
    for day in (0, 14, 28):
        run(app, TODAY + timedelta(days=day))
    mails = emails(app, "document_reminder")
    assert [m.context["dunning_level"] for m in mails] == [1, 2, 3]
    assert "Final notice: the invoices below are still unpaid" in built(app, mails[-1].id).message.body


def test_the_instalment_reminder_names_the_instalment(app):
    schedule(app)
    customer = factories.customer(language="en")
    plan(app, customer, [overdue(customer, 30)], PlanStatus.active, due=[TODAY - timedelta(days=10)])
    run(app, TODAY)
    [mail] = emails(app, "instalment_reminder")
    message = built(app, mail.id)
    assert message.subject.startswith("Reminder: your instalment to")
    assert "instalment 1 of your instalment plan" in message.message.body and "50.00" in message.message.body


def test_cli_dry_run_prints_and_writes_nothing(app):
    schedule(app, enabled=False, level1=(7, "5.00", "8"))
    customer = factories.customer(number="K-100", name="Karl Kunde")
    invoice = overdue(customer, 10, amount="200.00")
    before = row_counts(app)
    day = (TODAY + timedelta(days=1)).isoformat()
    result = app.test_cli_runner().invoke(args=["reminders", "run", "--dry-run", "--today", day])
    assert result.exit_code == 0, result.output
    # 200.00 × 8 × 11 / 36500 = 0.48219… → 0.48
    assert f"K-100 Karl Kunde: level 1 by email; invoices {invoice.number} (200.00 EUR" in result.output
    assert "fee 5.00 EUR; interest 0.48 EUR" in result.output
    assert "would go out" in result.output
    assert row_counts(app) == before


def test_cli_run_refuses_while_switched_off_then_sends(app):
    schedule(app, enabled=False)
    customer = factories.customer()
    overdue(customer, 10)
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["reminders", "run"])
    assert refused.exit_code != 0 and "Automatic reminders are off" in refused.output
    assert reminders_of(app) == []
    schedule(app, enabled=True)
    sent = runner.invoke(args=["reminders", "run", "--today", TODAY.isoformat()])
    assert sent.exit_code == 0 and "1 reminders and 0 instalment reminders went out" in sent.output
    assert " as R-" in sent.output
    assert len(reminders_of(app)) == 1
    # Without --today the run's day is the business's (its time zone): an hour before UTC
    # midnight it is tomorrow in Amsterdam already.
    with app.app_context():
        day = clock.today()
    assert runner.invoke(args=["reminders", "run"]).output.startswith(f"Reminders on {day.isoformat()}: 0 reminders")


def test_cli_rejects_a_bad_date(app):
    result = app.test_cli_runner().invoke(args=["reminders", "run", "--dry-run", "--today", "2026-13-40"])
    assert result.exit_code == 2 and "--today" in result.output


def test_the_scheduled_run_only_runs_when_switched_on(app):
    from mailers import dunning as runner

    customer = factories.customer()
    overdue(customer, 10)
    schedule(app, enabled=False)
    with app.app_context():
        assert runner.scheduled_run() is None
    schedule(app, enabled=True)
    with app.app_context():
        assert len(runner.scheduled_run().reminders) == 1


def test_the_next_daily_run_is_at_the_business_time(app):
    from datetime import datetime, timezone

    from mailers import dunning as runner

    with app.app_context():
        # 06:30 UTC in winter is 07:30 in Amsterdam: 08:00 is half an hour away.
        assert runner.seconds_until_next(datetime(2026, 1, 5, 6, 30, tzinfo=timezone.utc), "08:00") == 1800
        # 07:30 UTC is 08:30 there: the next is tomorrow's.
        assert runner.seconds_until_next(datetime(2026, 1, 5, 7, 30, tzinfo=timezone.utc), "08:00") == 23.5 * 3600
