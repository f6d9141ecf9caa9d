"""Automatic reminders (dunning): the schedule's levels and what each run sent.

The schedule (settings): per reminder level (models.documents.REMINDER_LEVELS) the days
after the due date it goes out, an optional fee and statutory interest rate, and the
e-mail and letter text per language. A level without a row uses DEFAULT_DAYS and no fee.

`DunningNotice` is the run's own ledger: one row per invoice and level (or per instalment)
that was reminded, unique, so a run repeated the same day -- or two runs at once -- claim
each reminder once (an INSERT … ON CONFLICT DO NOTHING decides who sends it).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.db import Money, ScaledDecimal, UTCDateTime, db

# Days after the due date per level until the business sets its own: 1st, 2nd, final notice.
DEFAULT_DAYS = {1: 7, 2: 21, 3: 35}
LANGUAGES = ("nl", "de", "en")
TEXT_KINDS = ("mail", "letter")


class DunningLevel(db.Model):
    __tablename__ = "dunning_levels"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    days_after_due: Mapped[int] = mapped_column(Integer)
    fee: Mapped[Decimal | None] = mapped_column(Money())
    # Statutory interest, percent a year (e.g. 8.000), on what is outstanding since the due date.
    interest_rate: Mapped[Decimal | None] = mapped_column(ScaledDecimal(3))
    # {language: {"mail": text, "letter": text}}; a missing text uses the standard one.
    texts: Mapped[dict | None] = mapped_column(JSON)

    def text(self, kind: str, language: str) -> str | None:
        return ((self.texts or {}).get(language) or {}).get(kind) or None


class DunningChannel:
    email = "email"
    letter = "letter"
    dry = "dry"


class DunningNotice(db.Model):
    __tablename__ = "dunning_notices"
    __table_args__ = (
        # One reminder per invoice and level, one per instalment (NULLs never collide).
        UniqueConstraint("invoice_id", "level"),
        UniqueConstraint("instalment_id"),
        # The letter list: what is still to print.
        Index("ix_dunning_notices_letters", "channel", "printed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    instalment_id: Mapped[int | None] = mapped_column(ForeignKey("instalments.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    # The reminder document it went out as (none for an instalment).
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"), index=True)
    run_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(10))
    # Letters: when staff marked it printed (it leaves the letter list).
    printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
