"""A customer's account statement: what they were charged and what they paid, dated, with
the balance after each entry. One definition for the Documents tab, the CSV and the PDF.

The rule, per currency, in date order:

- + each receivable document that is not a draft: an invoice's total on its issue date, a
  reminder's total (its fee and interest) when it has one; except a cancelled one the
  customer was never sent and nothing credited (`sent_at` empty, no credit note: it simply
  ends, nobody saw it; one with a credit note was cancelled with a credit note for the rest,
  see credit_notes.cancel_invoice);
- − each credit note's total on its issue date;
- − each payment received (booked, not undone) with its whole amount, including any part
  that became customer credit, on the day it was paid; customer credit applied to an
  invoice is not money received and is left out (the credit note or overpayment that made
  the credit is already on the statement);
- − each amount written off, on the day it was written off.

The balance after the last row is what the customer owes (negative: the business owes the
customer). Read in two statements, four with a start date (the opening balance).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, false, func, literal, not_, or_, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from models.clock import business_timezone
from models.customers import Customer
from models.db import db
from models.documents import KIND_NAMES, RECEIVABLE_KINDS, Document, DocumentKind, DocumentStatus
from models.payments import CREDIT, MANUAL, Payment, PaymentItem

ZERO = Decimal("0.00")

# Kinds of entry, and their order within one day: charges, then what reduces them.
INVOICE, REMINDER, CREDIT_NOTE, PAYMENT, WRITE_OFF = ENTRIES = (
    "invoice", "reminder", "credit_note", "payment", "write_off")
_ORDER = {INVOICE: 0, REMINDER: 0, CREDIT_NOTE: 1, PAYMENT: 2, WRITE_OFF: 3}

_PAYMENT_LABELS = {
    "bank_transfer": _l("Payment by bank transfer"),
    "cash": _l("Payment in cash"),
    "other": _l("Payment received"),
}


@dataclass(frozen=True)
class StatementRow:
    date: date
    entry: str  # one of ENTRIES
    label: str
    # (id, number) of the documents the entry is about: one, or for a payment every
    # document it paid.
    documents: tuple[tuple[int, str | None], ...]
    debit: Decimal  # adds to what the customer owes
    credit: Decimal  # takes from it
    balance: Decimal = ZERO  # after this row

    @property
    def document_id(self) -> int | None:
        return self.documents[0][0] if self.documents else None

    @property
    def document_number(self) -> str:
        return ", ".join(number or "" for _, number in self.documents)


@dataclass(frozen=True)
class Account:
    """The statement in one currency."""

    currency: str
    opening_balance: Decimal
    rows: list[StatementRow]

    @property
    def closing_balance(self) -> Decimal:
        return self.rows[-1].balance if self.rows else self.opening_balance

    @property
    def total_debit(self) -> Decimal:
        return sum((row.debit for row in self.rows), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((row.credit for row in self.rows), ZERO)


@dataclass(frozen=True)
class Statement:
    customer_id: int
    date_from: date | None
    date_to: date | None
    accounts: list[Account] = field(default_factory=list)  # by currency code

    def account(self, currency: str) -> Account | None:
        return next((a for a in self.accounts if a.currency == currency), None)

    @property
    def balances(self) -> dict[str, Decimal]:
        """The closing balance per currency."""
        return {account.currency: account.closing_balance for account in self.accounts}

    @property
    def rows(self) -> list[StatementRow]:
        return [row for account in self.accounts for row in account.rows]


# --- what counts -----------------------------------------------------------------------

# A receivable or credit note on the statement (the charge or credit on its issue date).
_CHARGED = or_(
    and_(
        Document.kind.in_(RECEIVABLE_KINDS),
        Document.status != DocumentStatus.draft,
        Document.gross_total > 0,
        not_(and_(Document.status == DocumentStatus.cancelled, Document.sent_at.is_(None),
                  Document.amount_credited == 0)),
    ),
    and_(Document.kind == DocumentKind.credit_note, Document.status != DocumentStatus.draft),
)
_WRITTEN_OFF = Document.amount_written_off > 0
_WRITE_OFF_DATE = func.coalesce(Document.written_off_on, Document.issue_date)
_SIGNED_TOTAL = case((Document.kind == DocumentKind.credit_note, -Document.gross_total), else_=Document.gross_total)
_PAID_MOMENT = func.coalesce(Payment.paid_at, Payment.booked_at)
_RECEIVED = and_(Payment.booked_at.is_not(None), Payment.reversed_at.is_(None), Payment.provider != CREDIT)


def _between(column, start, end) -> ColumnElement[bool]:
    """start <= column < end, either bound left out when None."""
    parts = [column >= start] if start is not None else []
    if end is not None:
        parts.append(column < end)
    return and_(true(), *parts)


def _midnight_utc(day: date) -> datetime:
    """When `day` begins in the business's calendar, as the UTC moment payments store."""
    return datetime.combine(day, time(), tzinfo=business_timezone()).astimezone(timezone.utc)


def _local_date(moment: datetime) -> date:
    return moment.astimezone(business_timezone()).date()


# --- the statement ---------------------------------------------------------------------


def statement(customer: Customer, date_from: date | None = None, date_to: date | None = None) -> Statement:
    """The statement of `customer` from `date_from` to `date_to` (both included; either
    may be open). With a start date, each currency opens with the balance of everything
    before it."""
    day_after = date_to + timedelta(days=1) if date_to is not None else None
    rows_by_currency: dict[str, list[StatementRow]] = {}
    for currency, row in (*_document_rows(customer.id, date_from, day_after),
                          *_payment_rows(customer.id, date_from, day_after)):
        rows_by_currency.setdefault(currency, []).append(row)
    opening = _opening_balances(customer.id, date_from) if date_from is not None else {}
    accounts = []
    for currency in sorted(set(rows_by_currency) | set(opening)):
        balance = opening.get(currency, ZERO)
        rows = sorted(rows_by_currency.get(currency, []),
                      key=lambda r: (r.date, _ORDER[r.entry], r.document_id or 0))
        running = []
        for row in rows:
            balance += row.debit - row.credit
            running.append(StatementRow(row.date, row.entry, row.label, row.documents, row.debit, row.credit,
                                        balance))
        accounts.append(Account(currency=currency, opening_balance=opening.get(currency, ZERO), rows=running))
    return Statement(customer_id=customer.id, date_from=date_from, date_to=date_to, accounts=accounts)


_RELATED = aliased(Document)  # the invoice a credit note refers to (built once: each build costs)


def _document_rows(customer_id: int, start: date | None, end: date | None):
    """Charges, credit notes and write-offs dated from `start` to before `end`: one statement."""
    related = _RELATED
    charged = and_(_CHARGED, _between(Document.issue_date, start, end))
    written_off = and_(_WRITTEN_OFF, _between(_WRITE_OFF_DATE, start, end))
    stmt = (
        select(Document.id, Document.kind, Document.number, Document.issue_date, Document.gross_total,
               Document.currency, Document.amount_written_off, _WRITE_OFF_DATE.label("written_off_on"),
               related.number.label("related_number"),
               case((charged, true()), else_=false()).label("charged"),
               case((written_off, true()), else_=false()).label("written_off"))
        .outerjoin(related, related.id == Document.related_id)
        .where(Document.customer_id == customer_id, or_(charged, written_off))
    )
    for doc in db.session.execute(stmt):
        documents = ((doc.id, doc.number),)
        if doc.charged:
            if doc.kind == DocumentKind.credit_note:
                label = (_l("Credit note for invoice %(number)s", number=doc.related_number)
                         if doc.related_number else KIND_NAMES[DocumentKind.credit_note])
                yield doc.currency, StatementRow(doc.issue_date, CREDIT_NOTE, label, documents, ZERO, doc.gross_total)
            elif doc.kind == DocumentKind.reminder:
                yield doc.currency, StatementRow(doc.issue_date, REMINDER, _l("Reminder: fee and interest"),
                                                 documents, doc.gross_total, ZERO)
            else:
                yield doc.currency, StatementRow(doc.issue_date, INVOICE, KIND_NAMES[DocumentKind.invoice],
                                                 documents, doc.gross_total, ZERO)
        if doc.written_off:
            yield doc.currency, StatementRow(doc.written_off_on, WRITE_OFF, _l("Written off"), documents,
                                             ZERO, doc.amount_written_off)


def _payment_rows(customer_id: int, start: date | None, end: date | None):
    """Money received from `start` to before `end`, with the documents each paid: one statement."""
    stmt = (
        select(Payment.id, _PAID_MOMENT.label("moment"), Payment.amount, Payment.currency, Payment.provider,
               Payment.method, Document.id.label("document_id"), Document.number)
        .outerjoin(PaymentItem, PaymentItem.payment_id == Payment.id)
        .outerjoin(Document, Document.id == PaymentItem.document_id)
        .where(Payment.customer_id == customer_id, _RECEIVED,
               _between(_PAID_MOMENT, _midnight_utc(start) if start else None, _midnight_utc(end) if end else None))
        .order_by(Payment.id, Document.id)
    )
    payments: dict[int, tuple] = {}
    for row in db.session.execute(stmt):
        if row.id not in payments:
            payments[row.id] = (row, [])
        if row.document_id is not None:
            payments[row.id][1].append((row.document_id, row.number))
    for payment, documents in payments.values():
        if payment.provider == MANUAL:
            label = _PAYMENT_LABELS.get(payment.method or "", _l("Payment received"))
        else:
            label = _l("Payment online")
        yield payment.currency, StatementRow(_local_date(payment.moment), PAYMENT, label, tuple(documents),
                                             ZERO, payment.amount)


def _opening_balances(customer_id: int, start: date) -> dict[str, Decimal]:
    """The balance per currency of everything before `start`: two statements."""
    charged = and_(_CHARGED, Document.issue_date < start)
    written_off = and_(_WRITTEN_OFF, _WRITE_OFF_DATE < start)
    balances: dict[str, Decimal] = {}
    documents = db.session.execute(
        select(Document.currency,
               func.sum(case((charged, _SIGNED_TOTAL), else_=literal(ZERO, Document.gross_total.type))),
               func.sum(case((written_off, Document.amount_written_off),
                             else_=literal(ZERO, Document.gross_total.type))))
        .where(Document.customer_id == customer_id, or_(charged, written_off))
        .group_by(Document.currency)
    )
    for currency, total, off in documents:
        balances[currency] = balances.get(currency, ZERO) + (total or ZERO) - (off or ZERO)
    received = db.session.execute(
        select(Payment.currency, func.sum(Payment.amount))
        .where(Payment.customer_id == customer_id, _RECEIVED, _PAID_MOMENT < _midnight_utc(start))
        .group_by(Payment.currency)
    )
    for currency, amount in received:
        balances[currency] = balances.get(currency, ZERO) - (amount or ZERO)
    return balances


# --- CSV ---------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value) -> str:
    """A text cell a spreadsheet will not run as a formula (a document number typed as
    `=HYPERLINK(…)`)."""
    value = str(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def _amount(value: Decimal | None) -> str:
    """Plain digits with a dot, two decimals: what every spreadsheet and bookkeeping import reads."""
    return "" if value is None else f"{value:.2f}"


def to_csv(result: Statement) -> str:
    """The statement as CSV: one header line, then per currency its opening balance, its
    entries and its closing balance. UTF-8 with a byte order mark, as the other exports
    (csv_import.export), so a spreadsheet reads "Überweisung" as written."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([str(_l("Date")), str(_l("Description")), str(_l("Document")), str(_l("Debit")),
                     str(_l("Credit")), str(_l("Balance")), str(_l("Currency"))])
    for account in result.accounts:
        if result.date_from is not None:
            writer.writerow([result.date_from.isoformat(), _text(_l("Opening balance")), "", "", "",
                             _amount(account.opening_balance), account.currency])
        for row in account.rows:
            writer.writerow([row.date.isoformat(), _text(row.label), _text(row.document_number),
                             _amount(row.debit) if row.debit else "", _amount(row.credit) if row.credit else "",
                             _amount(row.balance), account.currency])
        closing_date = result.date_to or (account.rows[-1].date if account.rows else result.date_from)
        writer.writerow([closing_date.isoformat() if closing_date else "", _text(_l("Closing balance")), "",
                         _amount(account.total_debit), _amount(account.total_credit),
                         _amount(account.closing_balance), account.currency])
    return out.getvalue()
