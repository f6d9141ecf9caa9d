"""Automatic reminders (dunning): once a day, every overdue invoice whose next level is due
gets it, as a reminder document (models.services.reminders) e-mailed through the outbox or,
for a customer without an e-mail address, put on the letter list.

- Which level: one more than the highest the invoice was reminded at (by hand or by a
  run; the final notice at most), once its days after the due date (the schedule,
  models.services.dunning_schedule) have passed and -- after an earlier reminder -- as
  many days as lie between the two levels have passed since it.
- Left out: customers on hold (`Customer.dunning_hold`), archived, or with a pending or
  active instalment plan; invoices with an unanswered question
  (`Document.awaiting_answer_since`) or disputed (`Document.disputed`).
- One reminder document per customer, level and currency, listing its invoices; the
  level's fee once per document, and interest exactly: the sum over its invoices of
  outstanding × rate/100 × days overdue/365, rounded half-up to cents once.
- Instalments of an active plan, unpaid the first level's days after their due date, get
  their own reminder: an e-mail naming the instalment (a reminder document lists invoices,
  and the plan's invoices are not what is late), once per instalment.
- Once: each (invoice, level) and each instalment is claimed in `dunning_notices` with an
  INSERT … ON CONFLICT DO NOTHING before anything is written (models.services.bulk); a second run the same day, or
  one at the same time (it waits for the first's rows and then finds them taken), sends
  nothing twice.
- Set-based: customers in batches (BATCH), each batch in a constant number of statements
  whatever its size (bench/dunning.py pins it); `after_batch` (the caller's commit) runs
  after each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select, update

from models.audit import AuditEvent
from models.customers import Customer
from models.db import db, now_utc
from models.documents import REMINDER_LEVELS, UNPAID_STATUSES, Document, DocumentKind, DocumentStatus, ReminderItem
from models.dunning import DunningChannel, DunningNotice
from models.instalments import Instalment, InstalmentPlan, PlanStatus
from models.outbox import MailCategory
from models.services import audit, bulk, dunning_schedule, outbox, reminders
from models.services.notifications import DOCUMENT_MAIL, reminder_context
from models.services.errors import DomainError
from models.staff import StaffUser

BATCH = 500
CENT = Decimal("0.01")
DAYS_IN_YEAR = Decimal("365")
RUNNING_PLANS = (PlanStatus.pending, PlanStatus.active)
INSTALMENT_TEMPLATE = "instalment_reminder"
# What a run writes to the audit trail (the customer's Overview lists these).
AUDIT_ACTIONS = ("reminder.sent", "reminder.letter_listed", "instalment.reminded", "customer.dunning_hold",
                 "document.disputed")


def interest(outstanding_days: list[tuple[Decimal, int]], rate: Decimal) -> Decimal:
    """Σ outstanding × rate/100 × days/365, exact, rounded half-up to cents once."""
    if not rate:
        return Decimal("0.00")
    exact = sum((outstanding * rate * days for outstanding, days in outstanding_days), Decimal("0"))
    return (exact / (100 * DAYS_IN_YEAR)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Reminder:
    """One reminder of a run: what goes out (or, in a dry run, would)."""

    customer_id: int
    customer_number: str
    customer_name: str
    channel: str  # DunningChannel.email or .letter
    level: int
    currency: str
    invoices: list[tuple[int, str, Decimal, date]]  # id, number, outstanding, due date
    fee: Decimal
    interest: Decimal
    language: str | None = None
    reminder_id: int | None = None
    reminder_number: str | None = None


@dataclass
class InstalmentReminder:
    customer_id: int
    customer_number: str
    customer_name: str
    channel: str
    instalment_id: int
    plan_id: int
    position: int
    due_date: date
    amount: Decimal
    currency: str


@dataclass
class RunResult:
    today: date
    dry_run: bool
    reminders: list[Reminder] = field(default_factory=list)
    instalments: list[InstalmentReminder] = field(default_factory=list)
    batches: int = 0


def _display_name(kind, name: str, company_name: str | None) -> str:
    return company_name if kind.value == "company" and company_name else name


def _next_level(sent: int, last_on: date | None, due_date: date, today: date,
                levels: dict[int, dunning_schedule.Level]) -> int | None:
    """The level due today for an invoice reminded up to `sent` (last on `last_on`), or None."""
    level = sent + 1
    if level > REMINDER_LEVELS[-1]:
        return None
    schedule = levels[level]
    if today < due_date + timedelta(days=schedule.days_after_due):
        return None
    if sent and last_on is not None:
        gap = schedule.days_after_due - levels[sent].days_after_due
        if today < last_on + timedelta(days=gap):
            return None
    return level


def _customer_batch(cutoff: date, after: int, size: int) -> list[int]:
    """The next `size` customers (by id) with an unpaid invoice due on or before `cutoff`."""
    return list(db.session.scalars(
        select(Document.customer_id).distinct()
        .where(Document.status.in_(UNPAID_STATUSES), Document.kind == DocumentKind.invoice,
               Document.due_date <= cutoff, Document.customer_id > after)
        .order_by(Document.customer_id).limit(size)))


def _runs_a_plan():
    return exists().where(InstalmentPlan.customer_id == Customer.id, InstalmentPlan.status.in_(RUNNING_PLANS))


def _candidates(customer_ids: list[int], cutoff: date):
    """The batch's invoices that may be reminded, with how far each was reminded already
    (reminder documents not cancelled, and the run's own notices), in one statement."""
    reminder = Document.__table__.alias("reminder")
    by_documents = (
        select(ReminderItem.invoice_id.label("invoice_id"), func.max(reminder.c.reminder_level).label("level"),
               func.max(reminder.c.issue_date).label("last_on"))
        .join(reminder, reminder.c.id == ReminderItem.reminder_id)
        .where(reminder.c.customer_id.in_(customer_ids), reminder.c.kind == DocumentKind.reminder.value,
               reminder.c.status != DocumentStatus.cancelled.value)
        .group_by(ReminderItem.invoice_id).subquery())
    by_notices = (
        select(DunningNotice.invoice_id.label("invoice_id"), func.max(DunningNotice.level).label("level"),
               func.max(DunningNotice.run_on).label("last_on"))
        .where(DunningNotice.customer_id.in_(customer_ids), DunningNotice.invoice_id.is_not(None))
        .group_by(DunningNotice.invoice_id).subquery())
    outstanding = (Document.gross_total - Document.amount_paid - Document.amount_credited
                   - Document.amount_written_off)
    return db.session.execute(
        select(Document.id, Document.customer_id, Document.number, Document.due_date, Document.currency,
               outstanding.label("outstanding"), Customer.number.label("customer_number"), Customer.kind,
               Customer.name, Customer.company_name, Customer.email, Customer.language,
               by_documents.c.level.label("document_level"), by_documents.c.last_on.label("document_on"),
               by_notices.c.level.label("notice_level"), by_notices.c.last_on.label("notice_on"))
        .join(Customer, Customer.id == Document.customer_id)
        .outerjoin(by_documents, by_documents.c.invoice_id == Document.id)
        .outerjoin(by_notices, by_notices.c.invoice_id == Document.id)
        .where(Document.customer_id.in_(customer_ids), Document.kind == DocumentKind.invoice,
               Document.status.in_(UNPAID_STATUSES), Document.due_date <= cutoff,
               Document.disputed.is_(False), Document.awaiting_answer_since.is_(None),
               Customer.dunning_hold.is_(False), Customer.archived_at.is_(None), ~_runs_a_plan())
        .order_by(Document.customer_id, Document.due_date, Document.id)).all()


def _plan(rows, today: date, levels: dict[int, dunning_schedule.Level]) -> list[Reminder]:
    """Group the due invoices per customer, level and currency into reminders."""
    grouped: dict[tuple[int, int, str], Reminder] = {}
    for row in rows:
        if row.outstanding <= 0:
            continue
        sent = max(row.document_level or 0, row.notice_level or 0)
        last_on = max((d for d in (row.document_on, row.notice_on) if d is not None), default=None)
        level = _next_level(sent, last_on, row.due_date, today, levels)
        if level is None:
            continue
        key = (row.customer_id, level, row.currency)
        reminder = grouped.get(key)
        if reminder is None:
            reminder = grouped[key] = Reminder(
                customer_id=row.customer_id, customer_number=row.customer_number,
                customer_name=_display_name(row.kind, row.name, row.company_name),
                channel=DunningChannel.email if (row.email or "").strip() else DunningChannel.letter,
                level=level, currency=row.currency, invoices=[], fee=levels[level].fee,
                interest=Decimal("0.00"), language=row.language)
        reminder.invoices.append((row.id, row.number, row.outstanding, row.due_date))
    for reminder in grouped.values():
        reminder.interest = interest([(outstanding, (today - due).days) for _i, _n, outstanding, due
                                      in reminder.invoices], levels[reminder.level].interest_rate)
    return list(grouped.values())


def _claim_invoices(planned: list[Reminder], today: date) -> set[tuple[int, int]]:
    """Claim (invoice, level) for each planned reminder; returns those this run got (a
    concurrent run's uncommitted claims make this wait, then count as theirs)."""
    values = [{"customer_id": r.customer_id, "invoice_id": invoice_id, "level": r.level, "run_on": today,
               "channel": r.channel} for r in planned for invoice_id, *_rest in r.invoices]
    if not values:
        return set()
    table = DunningNotice.__table__
    rows = bulk.insert_rows(table, values, returning=(table.c.invoice_id, table.c.level), ignore_conflicts=True)
    return {(row.invoice_id, row.level) for row in rows}


def _send(actor: StaffUser | None, planned: list[Reminder], today: date,
          levels: dict[int, dunning_schedule.Level]) -> None:
    """Write the claimed reminders: documents (each audited once, as "reminder.sent" or
    "reminder.letter_listed": the customer's Overview lists them), e-mails or the letter list.
    Each e-mail carries its level's own texts per language (the worker reads no settings
    for it; the language is the customer's when it is sent)."""
    mail_texts = {n: {language: texts["mail"] for language, texts in (level.texts or {}).items() if texts.get("mail")}
                  for n, level in levels.items()}
    now = now_utc()
    ids = reminders.create_reminders(actor, [
        reminders.Planned(customer_id=r.customer_id, language=r.language, currency=r.currency, level=r.level,
                          invoices=[(i, n, o) for i, n, o, _d in r.invoices], fee=r.fee, interest=r.interest,
                          sent_at=now if r.channel == DunningChannel.email else None,
                          action="reminder.sent" if r.channel == DunningChannel.email else "reminder.letter_listed",
                          changes={"automatic": [None, "yes"]})
        for r in planned], today)
    for reminder, (reminder_id, number) in zip(planned, ids):
        reminder.reminder_id, reminder.reminder_number = reminder_id, number
    template, category = DOCUMENT_MAIL[DocumentKind.reminder]
    outbox.queue_customer_emails(category, template, [
        (r.customer_id, r.reminder_id, {**reminder_context([(n, o) for _i, n, o, _d in r.invoices], r.fee + r.interest),
                                        "dunning_level": r.level, "dunning_texts": mail_texts[r.level]})
        for r in planned if r.channel == DunningChannel.email])
    bulk.update_rows(DunningNotice.__table__, ("invoice_id", "level"), [
        {"invoice_id": invoice_id, "level": r.level, "reminder_id": r.reminder_id}
        for r in planned for invoice_id, *_rest in r.invoices])


def _invoice_pass(result: RunResult, today: date, levels, *, dry_run: bool, batch_size: int,
                  actor: StaffUser | None, after_batch: Callable[[], None]) -> None:
    cutoff = today - timedelta(days=levels[REMINDER_LEVELS[0]].days_after_due)
    after = 0
    while True:
        customer_ids = _customer_batch(cutoff, after, batch_size)
        if not customer_ids:
            return
        after = customer_ids[-1]
        result.batches += 1
        planned = _plan(_candidates(customer_ids, cutoff), today, levels)
        if not dry_run and planned:
            claimed = _claim_invoices(planned, today)
            kept = []
            for reminder in planned:
                reminder.invoices = [invoice for invoice in reminder.invoices if (invoice[0], reminder.level) in claimed]
                if reminder.invoices:
                    kept.append(reminder)
            planned = kept
            if planned:
                _send(actor, planned, today, levels)
        result.reminders += planned
        if not dry_run:
            after_batch()


def _instalment_candidates(cutoff: date, after: int, size: int):
    """Unpaid instalments of active plans due on or before `cutoff` and not reminded yet, of
    customers not on hold: the next `size` (by id)."""
    return db.session.execute(
        select(Instalment.id, Instalment.plan_id, Instalment.position, Instalment.due_date, Instalment.amount,
               InstalmentPlan.currency, InstalmentPlan.customer_id, Customer.number.label("customer_number"),
               Customer.kind, Customer.name, Customer.company_name, Customer.email)
        .join(InstalmentPlan, InstalmentPlan.id == Instalment.plan_id)
        .join(Customer, Customer.id == InstalmentPlan.customer_id)
        .where(Instalment.id > after, Instalment.paid_at.is_(None), Instalment.due_date <= cutoff,
               InstalmentPlan.status == PlanStatus.active, Customer.dunning_hold.is_(False),
               Customer.archived_at.is_(None),
               ~exists().where(DunningNotice.instalment_id == Instalment.id))
        .order_by(Instalment.id).limit(size)).all()


def _instalment_pass(result: RunResult, today: date, levels, *, dry_run: bool, batch_size: int,
                     actor: StaffUser | None, after_batch: Callable[[], None]) -> None:
    cutoff = today - timedelta(days=levels[REMINDER_LEVELS[0]].days_after_due)
    after = 0
    while True:
        rows = _instalment_candidates(cutoff, after, batch_size)
        if not rows:
            return
        after = rows[-1].id
        result.batches += 1
        planned = [InstalmentReminder(
            customer_id=row.customer_id, customer_number=row.customer_number,
            customer_name=_display_name(row.kind, row.name, row.company_name),
            channel=DunningChannel.email if (row.email or "").strip() else DunningChannel.letter,
            instalment_id=row.id, plan_id=row.plan_id, position=row.position, due_date=row.due_date,
            amount=row.amount, currency=row.currency) for row in rows]
        if not dry_run:
            table = DunningNotice.__table__
            claimed = {row.instalment_id for row in bulk.insert_rows(table, [
                {"customer_id": r.customer_id, "instalment_id": r.instalment_id, "level": 1, "run_on": today,
                 "channel": r.channel} for r in planned], returning=(table.c.instalment_id,), ignore_conflicts=True)}
            planned = [r for r in planned if r.instalment_id in claimed]
            outbox.queue_customer_emails(MailCategory.invoice, INSTALMENT_TEMPLATE, [
                (r.customer_id, None, {"position": r.position, "due_date": r.due_date.isoformat(),
                                       "amount": str(r.amount), "currency": r.currency, "plan_id": r.plan_id})
                for r in planned if r.channel == DunningChannel.email])
            audit.record_many(actor, [
                ("instalment.reminded", "instalment", r.instalment_id, r.customer_id,
                 {"instalment": [None, r.position], "due_date": [None, r.due_date.isoformat()],
                  "amount": [None, str(r.amount)], "channel": [None, r.channel]}) for r in planned])
        result.instalments += planned
        if not dry_run:
            after_batch()


def run(today: date, *, dry_run: bool = False, batch_size: int = BATCH, actor: StaffUser | None = None,
        after_batch: Callable[[], None] = lambda: None) -> RunResult:
    """Send (or with `dry_run` only list) every reminder due on `today`. `after_batch` is the
    caller's commit, run after each batch, so claims are seen by a concurrent run early and
    a long run holds no locks for long. A dry run writes nothing."""
    levels = dunning_schedule.levels()
    result = RunResult(today=today, dry_run=dry_run)
    options = dict(dry_run=dry_run, batch_size=batch_size, actor=actor, after_batch=after_batch)
    _invoice_pass(result, today, levels, **options)
    _instalment_pass(result, today, levels, **options)
    return result


# --- letters and the customer's Overview -----------------------------------------------


@dataclass
class LetterRow:
    notice_ids: list[int]
    customer_id: int
    customer_name: str
    reminder_id: int | None
    reminder_number: str | None
    level: int
    run_on: date
    invoices: list[tuple[int, str]]  # id, number
    instalment: tuple[int, int] | None = None  # plan id, position
    instalment_id: int | None = None  # its reminder letter: admin/letters.py


def letter_list(customer_ids=None, limit: int = 200) -> list[LetterRow]:
    """Reminders for customers without an e-mail address, not yet printed (oldest first),
    one row per reminder document or instalment, in one statement. `customer_ids`: a
    select of the customers the staff member may see (None: all)."""
    invoice = Document.__table__.alias("invoice")
    reminder = Document.__table__.alias("reminder")
    stmt = (
        select(DunningNotice.id, DunningNotice.customer_id, DunningNotice.reminder_id, DunningNotice.level,
               DunningNotice.run_on, DunningNotice.invoice_id, invoice.c.number.label("invoice_number"),
               reminder.c.number.label("reminder_number"), DunningNotice.instalment_id, Instalment.plan_id,
               Instalment.position, Customer.kind, Customer.name, Customer.company_name)
        .join(Customer, Customer.id == DunningNotice.customer_id)
        .outerjoin(invoice, invoice.c.id == DunningNotice.invoice_id)
        .outerjoin(reminder, reminder.c.id == DunningNotice.reminder_id)
        .outerjoin(Instalment, Instalment.id == DunningNotice.instalment_id)
        .where(DunningNotice.channel == DunningChannel.letter, DunningNotice.printed_at.is_(None))
        .order_by(DunningNotice.run_on, DunningNotice.customer_id, DunningNotice.id).limit(limit))
    if customer_ids is not None:
        stmt = stmt.where(DunningNotice.customer_id.in_(customer_ids))
    rows: dict[tuple, LetterRow] = {}
    for row in db.session.execute(stmt):
        key = ("reminder", row.reminder_id) if row.invoice_id else ("instalment", row.instalment_id)
        letter = rows.get(key)
        if letter is None:
            letter = rows[key] = LetterRow(
                notice_ids=[], customer_id=row.customer_id,
                customer_name=_display_name(row.kind, row.name, row.company_name), reminder_id=row.reminder_id,
                reminder_number=row.reminder_number, level=row.level, run_on=row.run_on, invoices=[],
                instalment=(row.plan_id, row.position) if row.instalment_id else None,
                instalment_id=row.instalment_id)
        letter.notice_ids.append(row.id)
        if row.invoice_id:
            letter.invoices.append((row.invoice_id, row.invoice_number))
    return list(rows.values())


def mark_printed(actor: StaffUser, notice_ids: list[int], customer_ids=None) -> int:
    """Staff printed these letters: they leave the list, the reminder counts as sent, and the
    customer's trail says so. Returns how many notices changed."""
    stmt = select(DunningNotice).where(DunningNotice.id.in_(notice_ids), DunningNotice.printed_at.is_(None),
                                       DunningNotice.channel == DunningChannel.letter)
    if customer_ids is not None:
        stmt = stmt.where(DunningNotice.customer_id.in_(customer_ids))
    notices = list(db.session.scalars(stmt))
    now = now_utc()
    for notice in notices:
        notice.printed_at = now
    reminder_ids = {notice.reminder_id for notice in notices if notice.reminder_id}
    if reminder_ids:
        db.session.execute(update(Document).where(Document.id.in_(reminder_ids), Document.sent_at.is_(None))
                           .values(sent_at=now).execution_options(synchronize_session=False))
    for notice in notices:
        if notice.reminder_id is None or notice.reminder_id in reminder_ids:
            audit.record(actor, "letter.printed", "document" if notice.reminder_id else "instalment",
                         notice.reminder_id or notice.instalment_id, customer_id=notice.customer_id,
                         changes={"kind": [None, "reminder"]})
            reminder_ids.discard(notice.reminder_id)
    db.session.flush()
    return len(notices)


def set_hold(actor: StaffUser, customer: Customer, hold: bool) -> None:
    """Staff hold (or release) automatic reminders for a customer; audited."""
    if customer.dunning_hold != hold:
        audit.record(actor, "customer.dunning_hold", "customer", customer.id, customer_id=customer.id,
                     changes={"dunning_hold": [str(customer.dunning_hold), str(hold)]})
        customer.dunning_hold = hold
        db.session.flush()


def set_disputed(actor: StaffUser, invoice: Document, disputed: bool) -> None:
    """The debtor disputes an invoice (or no longer does): automatic reminders leave it out."""
    if invoice.kind != DocumentKind.invoice:
        raise DomainError(_l("Only an invoice can be disputed."))
    if invoice.disputed != disputed:
        audit.record(actor, "document.disputed", "document", invoice.id, customer_id=invoice.customer_id,
                     changes={"disputed": [str(invoice.disputed), str(disputed)]})
        invoice.disputed = disputed
        db.session.flush()


def overview(customer_id: int, limit: int = 5):
    """The customer's latest reminder events (automatic runs, letters, hold, disputes) for
    the Overview, newest first, in one statement."""
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.customer_id == customer_id,
                                 AuditEvent.action.in_(AUDIT_ACTIONS + ("letter.printed",)))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))
