"""Generated data for the reminder runs: customers, overdue invoices, plans, questions."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from mailers import dunning as dunning_runner
from models.db import db, now_utc
from models.documents import Document, DocumentKind, ReminderItem
from models.dunning import DunningLevel, DunningNotice
from models.instalments import Instalment, InstalmentPlan, PlanStatus
from models.outbox import OutboundEmail
from models.services.settings import get_settings
from tests import factories
from models import clock

TODAY = clock.today()


def overdue(customer, days: int, amount: str = "100.00", **values):
    """An open invoice of `customer` due `days` ago (values: status, amount_paid, currency)."""
    return factories.invoice(customer, amount=amount, vat="0", due_in_days=-days, **values)


def schedule(app, enabled: bool = True, **levels) -> None:
    """Switch automatic reminders on and set levels: level=(days, fee, rate[, texts])."""
    with app.app_context():
        get_settings(for_update=True).dunning_enabled = enabled
        for n, values in levels.items():
            days, fee, rate, *texts = values
            db.session.merge(DunningLevel(level=int(n[-1]), days_after_due=days, fee=Decimal(fee) if fee else None,
                                          interest_rate=Decimal(rate) if rate else None,
                                          texts=texts[0] if texts else None))
        db.session.commit()


def run(app, today: date, dry_run: bool = False, **options):
    with app.app_context():
        return dunning_runner.run(today, dry_run=dry_run, **options)


def plan(app, customer, invoices, status: PlanStatus, due: list[date] | None = None):
    with app.app_context():
        record = InstalmentPlan(customer_id=customer.id, status=status, total=Decimal("100.00"), currency="EUR",
                                count=len(due or [TODAY]), start_date=(due or [TODAY])[0])
        record.instalments = [Instalment(position=n, due_date=day, amount=Decimal("50.00"))
                              for n, day in enumerate(due or [TODAY + timedelta(days=30)], start=1)]
        record.documents = [db.session.get(Document, i.id) for i in invoices]
        db.session.add(record)
        db.session.commit()
        return record.id


def ask_question(app, invoice) -> None:
    with app.app_context():
        db.session.get(Document, invoice.id).awaiting_answer_since = now_utc()
        db.session.commit()


def reminders_of(app, customer=None) -> list[tuple]:
    """(customer id, level, sorted invoice numbers, fee, interest, sent) of every reminder document."""
    with app.app_context():
        stmt = select(Document).where(Document.kind == DocumentKind.reminder).order_by(Document.id)
        if customer is not None:
            stmt = stmt.where(Document.customer_id == customer.id)
        result = []
        for reminder in db.session.scalars(stmt):
            numbers = sorted(db.session.scalars(
                select(Document.number).join(ReminderItem, ReminderItem.invoice_id == Document.id)
                .where(ReminderItem.reminder_id == reminder.id)))
            result.append((reminder.customer_id, reminder.reminder_level, numbers, reminder.fee, reminder.interest,
                           reminder.sent_at is not None))
        return result


def emails(app, template: str | None = None) -> list[OutboundEmail]:
    with app.app_context():
        stmt = select(OutboundEmail).order_by(OutboundEmail.id)
        if template:
            stmt = stmt.where(OutboundEmail.template == template)
        rows = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return rows


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {table.name: db.session.scalar(select(func.count()).select_from(table))
                for table in db.metadata.sorted_tables}


def notices(app) -> list[DunningNotice]:
    with app.app_context():
        rows = list(db.session.scalars(select(DunningNotice).order_by(DunningNotice.id)))
        db.session.expunge_all()
        return rows
