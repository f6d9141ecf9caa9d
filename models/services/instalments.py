"""Instalment plans: the debtor spreads their open invoices over dated instalments.

The rules, once, for the dossier and the admin alike:
- a plan covers all open, released invoices of one currency (the debtor picks the
  currency when there are several); its total is what is outstanding on them;
- 2 to `instalment_max_count` instalments, each at least `instalment_min_amount`; the
  first on a date from today to 30 days ahead, the next ones monthly on the same day
  (the month's last day when it is shorter);
- amounts are exact: the total in cents split evenly, the remainder cents on the last
  instalment, so they always add up to the total;
- one running (pending or active) plan per customer, even under concurrent requests
  (the customer row is locked before looking, as for contact persons);
- a total up to `instalment_auto_approve_up_to` is active at once, a larger one waits for
  staff to approve or decline; staff may cancel a pending or active plan;
- while a plan runs, reminders for the invoices it covers pause (`covers`, used by
  notifications.send_reminder);
- an active plan whose invoices are all paid is completed (`complete_settled`);
- the debtor pays an instalment that is due with models.services.payments.start
  (`instalment=`); booking that payment sets its `paid_at` (`payable_now` says when a
  Pay button shows); money that reaches the plan's invoices another way (a bank transfer,
  a payment staff record, a credit note) marks the instalments it covers, in order
  (`mark_reached`).

Every change writes an audit event and an invoice-category e-mail (plan updates are
invoice mail, so contacts subscribed to invoices get a copy).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.orm import joinedload, selectinload

from models.customers import Customer
from models.db import db, now_utc
from models.documents import UNPAID_STATUSES, Document
from models.formatting import format_currency, format_date
from models.instalments import Instalment, InstalmentPlan, PlanStatus, plan_documents
from models.outbox import MailCategory
from models.services import audit, events, outbox
from models.services.access import visible
from models.services.questions import DEBTOR
from models.services.customers import InvoiceSummary, open_invoices
from models.services.errors import DomainError, NotFound
from models.settings import BusinessSettings
from models.staff import StaffUser

RUNNING = (PlanStatus.pending, PlanStatus.active)
STATUS_LABELS = {
    PlanStatus.pending: _l("waiting for approval"),
    PlanStatus.active: _l("active"),
    PlanStatus.declined: _l("declined"),
    PlanStatus.cancelled: _l("cancelled"),
    PlanStatus.completed: _l("completed"),
}
START_WINDOW = timedelta(days=30)
# Whatever the settings say, a schedule longer than this is not a plan but a typo.
HARD_MAX_COUNT = 120


@dataclass(frozen=True)
class Scheduled:
    position: int
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class Proposal:
    """What the debtor is shown before confirming: the plan as it would be saved."""

    currency: str
    total: Decimal
    invoices: list[InvoiceSummary]
    count: int
    start_date: date
    schedule: list[Scheduled]
    needs_approval: bool


# --- the arithmetic -------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the 31st becomes the month's last day in shorter months."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def split(total: Decimal, count: int) -> list[Decimal]:
    """`count` amounts in whole cents adding up to `total` exactly; the remainder cents go
    on the last one (so it is at most count-1 cents larger than the others)."""
    if count < 1:
        raise ValueError("count must be positive")
    cents = int(total.scaleb(2).to_integral_value())
    if Decimal(cents).scaleb(-2) != total:
        raise ValueError(f"{total} is not a whole number of cents")
    base, rest = divmod(cents, count)
    amounts = [base] * count
    amounts[-1] += rest
    return [Decimal(a).scaleb(-2) for a in amounts]


def schedule(total: Decimal, count: int, start_date: date) -> list[Scheduled]:
    return [
        Scheduled(position=i, due_date=add_months(start_date, i - 1), amount=amount)
        for i, amount in enumerate(split(total, count), start=1)
    ]


def max_count(settings: BusinessSettings, total: Decimal) -> int:
    """The most instalments allowed for `total`: the setting, and no instalment below the
    minimum amount (the smallest instalment is total // count, in cents)."""
    limit = min(settings.instalment_max_count or 0, HARD_MAX_COUNT)
    minimum = settings.instalment_min_amount or Decimal("0")
    if minimum > 0:
        limit = min(limit, int(total.scaleb(2)) // int(minimum.scaleb(2)))
    return max(limit, 0)


# --- what the debtor may put in a plan ------------------------------------------------------


def offered(settings: BusinessSettings) -> bool:
    """Plans are switched on and a plan of two instalments is allowed at all."""
    return bool(settings.allow_instalments) and min(settings.instalment_max_count or 0, HARD_MAX_COUNT) >= 2


def open_by_currency(customer: Customer) -> dict[str, tuple[list[InvoiceSummary], Decimal]]:
    """The customer's open, released invoices with something still to pay, per currency."""
    invoices, _ = open_invoices(customer, released_only=True)
    groups: dict[str, tuple[list[InvoiceSummary], Decimal]] = {}
    for invoice in invoices:
        if invoice.outstanding > 0:
            listed, total = groups.get(invoice.currency, ([], Decimal("0.00")))
            groups[invoice.currency] = ([*listed, invoice], total + invoice.outstanding)
    return groups


def start_window(today: date) -> tuple[date, date]:
    return today, today + START_WINDOW


def propose(settings: BusinessSettings, customer: Customer, *, currency: str | None, count: int | None,
            start_date: date | None, today: date) -> Proposal:
    """The plan the debtor asks for, checked against the business's rules (DomainError on
    the field that breaks one)."""
    if not offered(settings):
        raise DomainError(_l("Instalment plans are not offered."))
    groups = open_by_currency(customer)
    if not groups:
        raise DomainError(_l("You have no open invoices to pay in instalments."))
    if currency not in groups:
        raise DomainError(_l("Choose the currency of your open invoices."), field="currency")
    invoices, total = groups[currency]
    limit = max_count(settings, total)
    minimum = settings.instalment_min_amount or Decimal("0")
    if limit < 2:
        raise DomainError(
            _l("%(total)s cannot be split: each instalment must be at least %(minimum)s.",
               total=format_currency(total, currency), minimum=format_currency(minimum, currency)),
            field="count",
        )
    if count is None or count < 2:
        raise DomainError(_l("Choose at least 2 instalments."), field="count")
    if count > limit:
        if limit < min(settings.instalment_max_count, HARD_MAX_COUNT):
            message = _l("Each instalment must be at least %(minimum)s: for %(total)s that is at most %(n)s instalments.",
                         minimum=format_currency(minimum, currency), total=format_currency(total, currency), n=limit)
        else:
            message = _l("At most %(n)s instalments are possible.", n=limit)
        raise DomainError(message, field="count")
    first, last = start_window(today)
    if start_date is None or not first <= start_date <= last:
        raise DomainError(_l("Choose a first payment date from %(first)s to %(last)s.",
                             first=format_date(first), last=format_date(last)), field="start_date")
    return Proposal(
        currency=currency, total=total, invoices=invoices, count=count, start_date=start_date,
        schedule=schedule(total, count, start_date),
        needs_approval=total > (settings.instalment_auto_approve_up_to or Decimal("0")),
    )


# --- the plans ------------------------------------------------------------------------------


# Built once (the dossier page asks on every view; building a select per call cost more
# than running it).
_RUNNING_PLAN = (
    select(InstalmentPlan)
    .where(InstalmentPlan.customer_id == bindparam("customer_id"), InstalmentPlan.status.in_(RUNNING))
    .order_by(InstalmentPlan.id.desc())
    .limit(1)
)
_RUNNING_PLAN_WITH_SCHEDULE = _RUNNING_PLAN.options(selectinload(InstalmentPlan.instalments))


def running_plan(customer: Customer, *, with_schedule: bool = True) -> InstalmentPlan | None:
    """The customer's pending or active plan, if any (with its instalments: one more statement)."""
    stmt = _RUNNING_PLAN_WITH_SCHEDULE if with_schedule else _RUNNING_PLAN
    return db.session.scalar(stmt, {"customer_id": customer.id})


def status_label(status: PlanStatus | str) -> str:
    return str(STATUS_LABELS.get(PlanStatus(status), status))


def _lock_customer(customer: Customer) -> None:
    """An UPDATE of the customer row: PostgreSQL holds it as a row lock, SQLite as its
    write lock, so two requests cannot both find "no plan yet"."""
    db.session.execute(
        update(Customer).where(Customer.id == customer.id).values(id=Customer.id, updated_at=Customer.updated_at)
        .execution_options(synchronize_session=False)
    )


def request_plan(settings: BusinessSettings, customer: Customer, *, currency: str | None, count: int | None,
                 start_date: date | None, today: date, expected_total: str | None = None) -> InstalmentPlan:
    """Save the plan the debtor confirmed. `expected_total` is the total they were shown:
    if their open invoices changed since (a payment, a new invoice), nothing is saved and
    they see the new schedule first."""
    _lock_customer(customer)
    if running_plan(customer, with_schedule=False) is not None:
        raise DomainError(_l("You already have an instalment plan."))
    proposal = propose(settings, customer, currency=currency, count=count, start_date=start_date, today=today)
    if expected_total is not None and expected_total != str(proposal.total):
        raise DomainError(_l("Your open invoices changed since you looked. Check the new schedule and confirm again."))
    now = now_utc()
    plan = InstalmentPlan(
        customer_id=customer.id,
        status=PlanStatus.pending if proposal.needs_approval else PlanStatus.active,
        total=proposal.total, currency=proposal.currency, count=proposal.count, start_date=proposal.start_date,
        created_at=now, decided_at=None if proposal.needs_approval else now,
    )
    plan.documents = list(db.session.scalars(
        select(Document).where(Document.id.in_([i.id for i in proposal.invoices]))
    ))
    plan.instalments = [Instalment(position=s.position, due_date=s.due_date, amount=s.amount) for s in proposal.schedule]
    db.session.add(plan)
    db.session.flush()
    event = audit.record(None, "instalment_plan.requested", "instalment_plan", plan.id, customer_id=customer.id,
                         changes={"total": [None, f"{plan.total} {plan.currency}"], "count": [None, str(plan.count)],
                                  "status": [None, plan.status.value]})
    event.actor_label = DEBTOR
    _event("instalment_plan.requested", customer, plan)
    if plan.status == PlanStatus.active:  # agreed at once (within the business's limits): approved too
        _event("instalment_plan.approved", customer, plan)
    _mail(customer, plan, "instalment_requested" if proposal.needs_approval else "instalment_confirmed")
    return plan


def _event(type_: str, customer: Customer, plan: InstalmentPlan) -> None:
    """The plan as the business's package needs it: its terms, schedule and invoices
    (`approved_by` on approval: "staff", or "automatic" within the business's limits)."""
    data = {"instalment_plan": {
        "id": plan.id, "status": plan.status.value, "total": events.money(plan.total), "currency": plan.currency,
        "count": plan.count, "start_date": plan.start_date.isoformat(),
        "instalments": [{"position": i.position, "due_date": i.due_date.isoformat(), "amount": events.money(i.amount)}
                        for i in sorted(plan.instalments, key=lambda i: i.position)],
        "invoices": [{"id": d.id, "number": d.number, "external_id": d.external_id}
                     for d in sorted(plan.documents, key=lambda d: d.id)],
    }}
    if type_ == "instalment_plan.approved":
        data["instalment_plan"]["approved_by"] = "staff" if plan.decided_by_id else "automatic"
    events.record(type_, customer=customer, data=data)


def get_plan(staff: StaffUser, plan_id: int) -> InstalmentPlan:
    """A plan of a customer `staff` may see, else NotFound (an id in a URL proves nothing)."""
    stmt = (
        select(InstalmentPlan)
        .join(Customer, Customer.id == InstalmentPlan.customer_id)
        .where(InstalmentPlan.id == plan_id)
    )
    plan = db.session.scalar(visible(stmt, staff))
    if plan is None:
        raise NotFound()
    return plan


def get_instalment(staff: StaffUser, instalment_id: int) -> Instalment:
    """An instalment of a plan of a customer `staff` may see (with its plan), else NotFound."""
    stmt = (
        select(Instalment)
        .join(InstalmentPlan, InstalmentPlan.id == Instalment.plan_id)
        .join(Customer, Customer.id == InstalmentPlan.customer_id)
        .where(Instalment.id == instalment_id)
        .options(joinedload(Instalment.plan))
    )
    instalment = db.session.scalar(visible(stmt, staff))
    if instalment is None:
        raise NotFound()
    return instalment


def _decide(actor: StaffUser, plan: InstalmentPlan, allowed: tuple[PlanStatus, ...], to: PlanStatus,
            action: str, template: str) -> InstalmentPlan:
    """Move the plan from one of `allowed` to `to` in one conditional UPDATE, so two staff
    members clicking at once cannot both decide (the second gets a message)."""
    before = plan.status
    changed = db.session.execute(
        update(InstalmentPlan)
        .where(InstalmentPlan.id == plan.id, InstalmentPlan.status.in_(allowed))
        .values(status=to, decided_at=now_utc(), decided_by_id=actor.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise DomainError(_l("This plan has already been decided or has ended."))
    db.session.refresh(plan)
    customer = db.session.get(Customer, plan.customer_id)
    audit.record(actor, action, "instalment_plan", plan.id, customer_id=plan.customer_id,
                 changes={"status": [before.value, to.value]})
    _mail(customer, plan, template)
    return plan


def approve(actor: StaffUser, plan: InstalmentPlan) -> InstalmentPlan:
    plan = _decide(actor, plan, (PlanStatus.pending,), PlanStatus.active, "instalment_plan.approved",
                   "instalment_approved")
    _event("instalment_plan.approved", db.session.get(Customer, plan.customer_id), plan)
    return plan


def decline(actor: StaffUser, plan: InstalmentPlan) -> InstalmentPlan:
    return _decide(actor, plan, (PlanStatus.pending,), PlanStatus.declined, "instalment_plan.declined",
                   "instalment_declined")


def cancel(actor: StaffUser, plan: InstalmentPlan) -> InstalmentPlan:
    return _decide(actor, plan, RUNNING, PlanStatus.cancelled, "instalment_plan.cancelled", "instalment_cancelled")


def customer_instalment(customer: Customer, instalment_id: int) -> Instalment:
    """An instalment of one of this customer's plans, else NotFound (an id in a form proves nothing)."""
    instalment = db.session.scalar(
        select(Instalment).join(InstalmentPlan, InstalmentPlan.id == Instalment.plan_id)
        .where(Instalment.id == instalment_id, InstalmentPlan.customer_id == customer.id)
    )
    if instalment is None:
        raise NotFound()
    return instalment


def payable_now(plan: InstalmentPlan, instalment: Instalment, today: date) -> bool:
    """Does the debtor get a Pay button for it: the plan is active, it is due and not paid."""
    return plan.status == PlanStatus.active and instalment.paid_at is None and instalment.due_date <= today


def covers(document: Document) -> bool:
    """Is the invoice part of a pending or active plan (its reminders pause)?"""
    return bool(db.session.scalar(select(exists().where(
        plan_documents.c.document_id == document.id,
        plan_documents.c.plan_id == InstalmentPlan.id,
        InstalmentPlan.status.in_(RUNNING),
    ))))


def complete_settled(customer: Customer) -> None:
    """Active plans of the customer whose invoices are all paid (or cancelled) are completed,
    after the instalments their payments reached are marked paid (mark_reached).

    Called where the plan is shown to the debtor, and by payment booking, so a paid-up
    plan ends without anyone looking."""
    mark_reached(customer)
    unpaid = exists().where(
        plan_documents.c.plan_id == InstalmentPlan.id,
        plan_documents.c.document_id == Document.id,
        Document.status.in_(UNPAID_STATUSES),
    )
    db.session.execute(
        update(InstalmentPlan)
        .where(InstalmentPlan.customer_id == customer.id, InstalmentPlan.status == PlanStatus.active, ~unpaid)
        .values(status=PlanStatus.completed)
        .execution_options(synchronize_session=False)
    )


def mark_reached(customer: Customer) -> None:
    """Instalments of the customer's active plans count as paid, in order, as far as what
    the plan's invoices received since it began reaches (the plan's total less what they
    still owe): a bank transfer with the invoice's reference, a payment staff record or a
    credit note pays instalments too, not only the Pay button of an instalment.

    One statement reads the active plans' instalments with what is still owed; only newly
    reached instalments are written."""
    owed = (
        select(func.coalesce(func.sum(Document.gross_total - Document.amount_paid - Document.amount_credited
                                      - Document.amount_written_off), 0))
        .join(plan_documents, plan_documents.c.document_id == Document.id)
        .where(plan_documents.c.plan_id == InstalmentPlan.id, Document.status.in_(UNPAID_STATUSES))
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Instalment, InstalmentPlan.total, owed.label("owed"))
        .join(InstalmentPlan, InstalmentPlan.id == Instalment.plan_id)
        .where(InstalmentPlan.customer_id == customer.id, InstalmentPlan.status == PlanStatus.active)
        .order_by(Instalment.plan_id, Instalment.position)
    ).all()
    now, plan_id, reached = now_utc(), None, Decimal("0.00")
    for instalment, total, still_owed in rows:
        if instalment.plan_id != plan_id:
            plan_id, reached = instalment.plan_id, Decimal("0.00")
        reached += instalment.amount
        if reached <= total - still_owed and instalment.paid_at is None:
            instalment.paid_at = now
    db.session.flush()


_OVERVIEW_PLANS = (
    select(InstalmentPlan)
    .where(InstalmentPlan.customer_id == bindparam("customer_id"))
    .options(joinedload(InstalmentPlan.instalments))
    .order_by(InstalmentPlan.status.in_(RUNNING).desc(), InstalmentPlan.id.desc())
    .limit(5)
)


def for_overview(customer: Customer) -> list[InstalmentPlan]:
    """The customer's five latest plans with their schedules, in one statement (a join),
    for the customer Overview: running ones first, then the most recent."""
    return list(db.session.scalars(_OVERVIEW_PLANS, {"customer_id": customer.id}).unique().all())


# --- e-mail ---------------------------------------------------------------------------------


def _mail(customer: Customer, plan: InstalmentPlan, template: str) -> None:
    """Queue an instalment mail. The outbox context is JSON, so the schedule travels as
    text; dates are written out in the customer's language now (amounts are formatted
    when the mail is built)."""
    with force_locale(customer.language or "en"):
        dates = [format_date(i.due_date) for i in plan.instalments]
    outbox.queue_customer_email(customer, MailCategory.invoice, template, context={
        "plan_id": plan.id,
        "currency": plan.currency,
        "total": str(plan.total),
        "count": plan.count,
        "schedule": [
            {"position": i.position, "due_date": i.due_date.isoformat(), "amount": str(i.amount),
             "date": text}
            for i, text in zip(plan.instalments, dates)
        ],
        "invoices": [d.number for d in plan.documents],
    })
