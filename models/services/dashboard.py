"""The staff dashboard: what is owed and how late, what came in, and what waits for someone.

`summary` answers with a fixed number of aggregate statements, however many documents,
payments or e-mails there are: SQL groups and sums, Python only arranges the handful of
result rows. Everything is limited to the customers the staff member may see (`visible`).

The attention counts are the rows the linked lists show: the invoice list's Attention
filters (`documents.list_invoices`, ATTENTION_FILTERS), pending instalment plans (decided
on the customer Overview) and failed e-mails (resent from the customer's e-mail log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import load_only

from models.clock import business_timezone
from models.customers import Customer
from models.db import db
from models.documents import RECEIVABLE_KINDS, UNPAID_STATUSES, Document
from models.instalments import InstalmentPlan, PlanStatus
from models.outbox import MailStatus, OutboundEmail
from models.payments import CREDIT, Payment
from models.services.access import visible
from models.services.document_list import attention_condition
from models.services.synced_mail import UNREAD
from models.services.settings import get_settings
from models.services.settlement import OUTSTANDING
from models.staff import StaffUser

ZERO = Decimal("0.00")
# Ageing buckets by days overdue (today − due date). A document due today or later, or
# without a due date, is not overdue (Payable.is_overdue).
NOT_DUE, DAYS_1_30, DAYS_31_60, DAYS_61_90, OVER_90 = AGEING_BUCKETS = (
    "not_due", "1_30", "31_60", "61_90", "over_90",
)
OVERDUE_BUCKETS = AGEING_BUCKETS[1:]
WEEKS = 12
# The Overview lists of pending plans and of customers with failed e-mails stop here; the
# count above them says how many there are in all.
LIST_LIMIT = 10
_CUSTOMER_NAME = load_only(Customer.kind, Customer.name, Customer.company_name)


@dataclass(frozen=True)
class Receivables:
    """What is still to pay in one currency, in total and by days overdue."""

    currency: str
    ageing: dict[str, Decimal]  # AGEING_BUCKETS → outstanding
    documents: dict[str, int]  # AGEING_BUCKETS → number of documents

    @property
    def outstanding(self) -> Decimal:
        return sum(self.ageing.values(), ZERO)

    @property
    def overdue(self) -> Decimal:
        return sum((self.ageing[b] for b in OVERDUE_BUCKETS), ZERO)

    @property
    def open_documents(self) -> int:
        return sum(self.documents.values())

    @property
    def overdue_documents(self) -> int:
        return sum(self.documents[b] for b in OVERDUE_BUCKETS)


@dataclass(frozen=True)
class Week:
    """Money received in the week (Monday to Sunday, the business's calendar) from `start`."""

    start: date
    payments: int
    amounts: dict[str, Decimal]  # currency → amount received


@dataclass(frozen=True)
class Attention:
    questions: int  # documents with a question waiting for an answer
    provided_email: int  # unpaid invoices of customers who left an e-mail address on the dossier
    no_email: int  # unpaid invoices of customers without an e-mail address
    pending_plans: int
    failed_emails: int
    replies_to_read: int = 0  # customers with synced e-mail nobody opened yet (issue 21)


@dataclass(frozen=True)
class PendingPlan:
    id: int
    customer: Customer  # id and display name only
    total: Decimal
    currency: str
    count: int
    requested_at: datetime


@dataclass(frozen=True)
class FailedMail:
    customer: Customer  # id and display name only
    failed: int
    latest: datetime


@dataclass(frozen=True)
class Dashboard:
    today: date
    default_currency: str
    receivables: list[Receivables]  # the default currency first, then by code
    weeks: list[Week]  # oldest first; the last is the current week
    payment_currencies: list[str]  # the default currency first, then any other received
    attention: Attention
    pending_plans: list[PendingPlan]  # the oldest LIST_LIMIT waiting
    failed_mail: list[FailedMail]  # LIST_LIMIT customers, the latest failure first
    list_limit: int = LIST_LIMIT

    @property
    def charted(self) -> Receivables | None:
        """The receivables the ageing chart shows: the default currency's, or if nothing is owed
        in it, the first other currency's."""
        return self.receivables[0] if self.receivables else None

    @property
    def charted_payments(self) -> str:
        """The currency the payments chart shows: the default one, unless nothing came in in it."""
        received = [c for c in self.payment_currencies if any(week.amounts[c] for week in self.weeks)]
        return received[0] if received else self.default_currency


def summary(staff: StaffUser, today: date) -> Dashboard:
    """The dashboard of `staff` on `today` (the business's date): four statements (settings,
    attention counts, receivables, payments), and one more for each of the two short lists
    when there is something to list."""
    default_currency = get_settings().default_currency
    attention = _attention(staff)
    receivables = _receivables(staff, today, default_currency)
    weeks, payment_currencies = _weeks(staff, today, default_currency)
    return Dashboard(
        today=today,
        default_currency=default_currency,
        receivables=receivables,
        weeks=weeks,
        payment_currencies=payment_currencies,
        attention=attention,
        pending_plans=_pending_plans(staff) if attention.pending_plans else [],
        failed_mail=_failed_mail(staff) if attention.failed_emails else [],
    )


def _scoped(stmt, staff: StaffUser, onclause=None):
    """`stmt` limited to the customers `staff` may see (the customer join only if needed)."""
    if staff.sees_all_customers:
        return stmt
    return visible(stmt.join(Customer, onclause) if onclause is not None else stmt, staff)


def _currency_order(currencies, default_currency: str) -> list[str]:
    return sorted(set(currencies), key=lambda c: (c != default_currency, c))


# --- receivables -------------------------------------------------------------------------


def _receivables(staff: StaffUser, today: date, default_currency: str) -> list[Receivables]:
    """One statement: outstanding and number of documents per currency and ageing bucket."""
    due = Document.due_date
    bucket = case(
        (due.is_(None), 0),
        (due >= today, 0),
        (due >= today - timedelta(days=30), 1),
        (due >= today - timedelta(days=60), 2),
        (due >= today - timedelta(days=90), 3),
        else_=4,
    )
    rows = _scoped(
        select(Document.currency.label("currency"), bucket.label("bucket"), OUTSTANDING.label("amount"))
        .where(Document.kind.in_(RECEIVABLE_KINDS), Document.status.in_(UNPAID_STATUSES)),
        staff, Document.customer_id == Customer.id,
    ).subquery()
    # Grouped outside: PostgreSQL does not take a CASE with parameters in GROUP BY as the
    # same expression as the one selected.
    totals = db.session.execute(
        select(rows.c.currency, rows.c.bucket, func.sum(rows.c.amount), func.count())
        .group_by(rows.c.currency, rows.c.bucket)
    ).all()
    amounts: dict[str, dict[str, Decimal]] = {}
    counts: dict[str, dict[str, int]] = {}
    for currency, index, amount, count in totals:
        amounts.setdefault(currency, dict.fromkeys(AGEING_BUCKETS, ZERO))[AGEING_BUCKETS[index]] = amount
        counts.setdefault(currency, dict.fromkeys(AGEING_BUCKETS, 0))[AGEING_BUCKETS[index]] = count
    return [
        Receivables(currency=currency, ageing=amounts[currency], documents=counts[currency])
        for currency in _currency_order(amounts, default_currency)
    ]


# --- payments ----------------------------------------------------------------------------


def _week_starts(today: date) -> list[date]:
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=WEEKS - 1 - n) for n in range(WEEKS)]


def _midnight_utc(day: date) -> datetime:
    """The moment `day` begins in the business's calendar, in UTC (as the columns are stored)."""
    return datetime.combine(day, time(), tzinfo=business_timezone()).astimezone(timezone.utc)


def _weeks(staff: StaffUser, today: date, default_currency: str) -> tuple[list[Week], list[str]]:
    """One statement: money received per currency in each of the last WEEKS weeks.

    Received: booked and not undone; customer credit applied to an invoice is no new money.
    A payment counts in the week it was paid (booking sets paid_at when the provider gave no time)."""
    starts = _week_starts(today)
    bounds = [_midnight_utc(start) for start in starts]
    end = _midnight_utc(starts[-1] + timedelta(weeks=1))
    moment = Payment.paid_at  # set on every booked payment (ix_payments_received)
    week = case(*[(moment >= bounds[n], n) for n in reversed(range(WEEKS))], else_=0)
    rows = _scoped(
        select(Payment.currency.label("currency"), week.label("week"), Payment.amount.label("amount"))
        .where(
            Payment.booked_at.is_not(None),
            Payment.reversed_at.is_(None),
            Payment.provider != CREDIT,
            moment >= bounds[0],
            moment < end,
        ),
        staff, Payment.customer_id == Customer.id,
    ).subquery()
    totals = db.session.execute(
        select(rows.c.week, rows.c.currency, func.count(), func.sum(rows.c.amount))
        .group_by(rows.c.week, rows.c.currency)
    ).all()
    currencies = _currency_order([default_currency, *(currency for _, currency, _, _ in totals)], default_currency)
    payments = [0] * WEEKS
    amounts = [dict.fromkeys(currencies, ZERO) for _ in range(WEEKS)]
    for index, currency, count, amount in totals:
        payments[index] += count
        amounts[index][currency] = amount
    weeks = [Week(start=start, payments=payments[n], amounts=amounts[n]) for n, start in enumerate(starts)]
    return weeks, currencies


# --- attention ---------------------------------------------------------------------------


def _count(stmt, staff: StaffUser, onclause=None):
    return _scoped(stmt, staff, onclause).scalar_subquery()


def _attention_count(staff: StaffUser, attention: str):
    """Documents as the document list counts them for one Attention filter (one definition:
    document_list.attention_condition)."""
    stmt = select(func.count()).select_from(Document).where(attention_condition(attention))
    if attention != "questions" and staff.sees_all_customers:  # the condition reads the customer
        stmt = stmt.join(Customer, Document.customer_id == Customer.id)
    return _count(stmt, staff, Document.customer_id == Customer.id)


def _attention(staff: StaffUser) -> Attention:
    """One statement of six counts."""
    row = db.session.execute(select(
        _attention_count(staff, "questions"),
        _attention_count(staff, "provided_email"),
        _attention_count(staff, "no_email"),
        _count(select(func.count(InstalmentPlan.id)).where(InstalmentPlan.status == PlanStatus.pending),
               staff, InstalmentPlan.customer_id == Customer.id),
        # Mail of a customer (an invitation to a login that no longer exists has none).
        _count(select(func.count(OutboundEmail.id))
               .join(Customer, OutboundEmail.customer_id == Customer.id)
               .where(OutboundEmail.status == MailStatus.failed), staff),
        _count(select(func.count(Customer.id)).where(UNREAD), staff),
    )).one()
    return Attention(*row)


def _pending_plans(staff: StaffUser) -> list[PendingPlan]:
    stmt = _scoped(
        select(InstalmentPlan.id, Customer, InstalmentPlan.total, InstalmentPlan.currency, InstalmentPlan.count,
               InstalmentPlan.created_at)
        .join_from(InstalmentPlan, Customer, InstalmentPlan.customer_id == Customer.id)
        .options(_CUSTOMER_NAME)
        .where(InstalmentPlan.status == PlanStatus.pending)
        .order_by(InstalmentPlan.created_at, InstalmentPlan.id)
        .limit(LIST_LIMIT),
        staff,
    )
    return [PendingPlan(*row) for row in db.session.execute(stmt).all()]


def _failed_mail(staff: StaffUser) -> list[FailedMail]:
    latest = func.max(OutboundEmail.created_at)
    stmt = _scoped(
        select(Customer, func.count(OutboundEmail.id), latest)
        .join_from(OutboundEmail, Customer, OutboundEmail.customer_id == Customer.id)
        .options(_CUSTOMER_NAME)
        .where(OutboundEmail.status == MailStatus.failed)
        .group_by(Customer.id, Customer.kind, Customer.name, Customer.company_name)
        .order_by(latest.desc(), Customer.id)
        .limit(LIST_LIMIT),
        staff,
    )
    return [FailedMail(*row) for row in db.session.execute(stmt).all()]
