"""The automatic reminders' schedule (settings): on or off, and per level the days after
the due date, an optional fee and interest rate, and the e-mail and letter texts.

Texts take the document e-mail placeholders (settings.MAIL_PLACEHOLDERS) and are checked
the same way; an empty text means the standard text of its level (DEFAULT_TEXTS).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.db import db
from models.documents import REMINDER_LEVELS
from models.dunning import DEFAULT_DAYS, LANGUAGES, TEXT_KINDS, DunningLevel
from models.services import audit
from models.services.documents import MAX_TOTAL
from models.services.errors import DomainError
from models.services.settings import check_mail_text, get_settings
from models.staff import StaffUser

MAX_DAYS = 365
MAX_RATE = Decimal("100")
RATE_PLACES = Decimal("0.001")
CENT = Decimal("0.01")

# What a reminder of each level says when the business wrote nothing (e-mail and letter).
DEFAULT_TEXTS = {
    1: _l("Perhaps this has slipped your mind: according to our records the invoices below are still open. "
          "Please pay them soon."),
    2: _l("Despite our earlier reminder the invoices below are still open. Please pay them now."),
    3: _l("Final notice: the invoices below are still unpaid despite our reminders. If we do not receive "
          "payment by the date below, we will hand the claim over for collection without further notice."),
}


@dataclass(frozen=True)
class Level:
    """One level of the schedule as a run uses it."""

    level: int
    days_after_due: int
    fee: Decimal
    interest_rate: Decimal  # percent a year
    texts: dict

    def text(self, kind: str, language: str) -> str | None:
        """The business's own text, or None (then DEFAULT_TEXTS[level])."""
        return ((self.texts or {}).get(language) or {}).get(kind) or None


def levels() -> dict[int, Level]:
    """Every level, saved or default (one query)."""
    saved = {row.level: row for row in db.session.scalars(select(DunningLevel))}
    result = {}
    for level in REMINDER_LEVELS:
        row = saved.get(level)
        result[level] = Level(
            level=level,
            days_after_due=row.days_after_due if row else DEFAULT_DAYS[level],
            fee=(row.fee if row and row.fee is not None else Decimal("0.00")),
            interest_rate=(row.interest_rate if row and row.interest_rate is not None else Decimal("0")),
            texts=(row.texts or {}) if row else {},
        )
    return result


def text_for(level: Level, kind: str, language: str) -> str:
    """The text of a level in a language: the business's, else the standard one (translated
    by the caller's locale)."""
    return level.text(kind, language) or str(DEFAULT_TEXTS[level.level])


def form_data() -> dict:
    """The settings form's fields as saved."""
    data: dict = {"enabled": get_settings().dunning_enabled}
    for level in levels().values():
        n = level.level
        data[f"days_{n}"] = level.days_after_due
        data[f"fee_{n}"] = level.fee
        data[f"interest_{n}"] = level.interest_rate
        for language in LANGUAGES:
            for kind in TEXT_KINDS:
                data[f"{kind}_text_{n}_{language}"] = level.text(kind, language) or ""
    return data


def _days(value, field: str) -> int:
    if value is None or not 0 <= int(value) <= MAX_DAYS:
        raise DomainError(_l("Enter a number of days from 0 to %(n)s.", n=MAX_DAYS), field=field)
    return int(value)


def _fee(value, field: str) -> Decimal | None:
    value = Decimal("0.00") if value is None else Decimal(value)
    if value < 0 or value != value.quantize(CENT) or value >= MAX_TOTAL:
        raise DomainError(_l("Enter an amount of zero or more, in cents at most."), field=field)
    return value or None


def _rate(value, field: str) -> Decimal | None:
    value = Decimal("0") if value is None else Decimal(value)
    if not 0 <= value <= MAX_RATE or value != value.quantize(RATE_PLACES):
        raise DomainError(_l("Enter a percentage from 0 to 100, with at most three decimals."), field=field)
    return value or None


def update_schedule(actor: StaffUser, values: dict) -> None:
    """Save the schedule form: days strictly later per level, fees in cents, rates from 0 to
    100 % a year, texts with known placeholders only. Audited as one settings change."""
    settings = get_settings(for_update=True)
    before = form_data()
    saved = {row.level: row for row in db.session.scalars(select(DunningLevel))}
    previous_days = -1
    for n in REMINDER_LEVELS:
        days = _days(values.get(f"days_{n}"), f"days_{n}")
        if days <= previous_days:
            raise DomainError(_l("Each level comes later than the one before: more days after the due date."),
                              field=f"days_{n}")
        previous_days = days
        texts: dict = {}
        for language in LANGUAGES:
            for kind in TEXT_KINDS:
                name = f"{kind}_text_{n}_{language}"
                text = check_mail_text(values.get(name), field=name)
                if text:
                    texts.setdefault(language, {})[kind] = text
        row = saved.get(n)
        if row is None:
            row = DunningLevel(level=n)
            db.session.add(row)
        row.days_after_due = days
        row.fee = _fee(values.get(f"fee_{n}"), f"fee_{n}")
        row.interest_rate = _rate(values.get(f"interest_{n}"), f"interest_{n}")
        row.texts = texts or None
    settings.dunning_enabled = bool(values.get("enabled"))
    db.session.flush()
    audit.record(actor, "settings.updated", "settings", settings.id, changes=audit.diff(before, form_data()))
