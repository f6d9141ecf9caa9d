"""Imported bank statements (CAMT.053 or MT940) and their incoming transfers.

A statement is kept once per file (`file_sha256` is unique); each incoming transfer once
per installation (`dedupe_key` is unique: the bank's own reference for it, else a hash of
what describes it), so importing the same statement or an overlapping one books nothing
twice -- even two imports at once, where the database refuses the second row.
A transfer is booked through models.services.recorded_payments (a bank transfer payment),
automatically when it matches an open invoice, else by staff who assign it.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Money, UTCDateTime, db, now_utc


class EntryStatus(str, enum.Enum):
    matched = "matched"  # booked on the invoice its reference or number named
    assigned = "assigned"  # booked on the invoice staff chose
    unmatched = "unmatched"  # waiting for staff


class BankStatement(db.Model):
    __tablename__ = "bank_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str | None] = mapped_column(String(200))
    statement_ref: Mapped[str | None] = mapped_column(String(100))  # the bank's <Stmt><Id> (MT940: :20:)
    account_iban: Mapped[str | None] = mapped_column(String(34))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    # Transfers on the file that were imported before (this file or another): skipped.
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)

    entries: Mapped[list["BankStatementEntry"]] = relationship(
        back_populates="statement", cascade="all, delete-orphan", order_by="BankStatementEntry.id")


class BankStatementEntry(db.Model):
    __tablename__ = "bank_statement_entries"
    __table_args__ = (Index("ix_bank_statement_entries_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statements.id", ondelete="CASCADE"), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    booking_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    debtor_name: Mapped[str | None] = mapped_column(String(140))
    debtor_iban: Mapped[str | None] = mapped_column(String(34))
    reference: Mapped[str | None] = mapped_column(String(35))  # structured (the RF reference)
    remittance: Mapped[str | None] = mapped_column(Text)  # unstructured
    bank_ref: Mapped[str | None] = mapped_column(String(100))  # AcctSvcrRef / EndToEndId as the bank gave it
    status: Mapped[EntryStatus] = mapped_column(
        Enum(EntryStatus, native_enum=False, length=20, validate_strings=True), default=EntryStatus.unmatched)
    matched_by: Mapped[str | None] = mapped_column(String(10))  # "rf", "number" or "staff"
    note: Mapped[str | None] = mapped_column(String(300))  # why it is unmatched
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"))

    statement: Mapped[BankStatement] = relationship(back_populates="entries")
