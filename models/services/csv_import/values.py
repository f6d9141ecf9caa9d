"""Cell values as real exports write them, and cells a spreadsheet will not run.

Amounts: a decimal comma (1.234,56 — Dutch and German exports) or point (1,234.56); the
file's convention is guessed from its cells and can be set in the mapping step. A thousands
separator stands only between groups of three digits: a cell written the other way is refused. Dates:
ISO (2026-12-31) or day first (31-12-2026, 31.12.2026, 31/12/2026, two-digit years
meaning 20xx); a month first is never assumed.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

COMMA, POINT = "comma", "point"
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[-./](\d{1,2})[-./](\d{4}|\d{2})$")
_COMMA_DECIMAL = re.compile(r"^[-+]?[\d.\s]*\d,\d+$")
_POINT_DECIMAL = re.compile(r"^[-+]?[\d,\s]*\d\.\d+$")
# Export: what a spreadsheet would run as a formula (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")
# An amount under each convention: thousands separators only between groups of three digits,
# so a cell written the other way (12.5 in a file of decimal commas) is refused, not read as 125.
_AMOUNT = {
    COMMA: re.compile(r"^[-+]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$"),
    POINT: re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$"),
}


class BadValue(ValueError):
    """A cell that is not what its column holds; the message says what was expected."""


def guess_decimal(samples: list[str]) -> str:
    """COMMA if an amount-like sample has a decimal comma and none a decimal point."""
    commas = sum(1 for s in samples if _COMMA_DECIMAL.match(s.strip()))
    points = sum(1 for s in samples if _POINT_DECIMAL.match(s.strip()))
    return COMMA if commas > points else POINT


def parse_decimal(text: str, decimal: str) -> Decimal:
    value = text.strip().replace(" ", "").replace("\u00a0", "").replace("€", "")
    if not _AMOUNT[decimal].match(value):
        raise BadValue(str(_l("%(value)s is not a number", value=text)))
    if decimal == COMMA:
        value = value.replace(".", "").replace(",", ".")
    else:
        value = value.replace(",", "")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BadValue(str(_l("%(value)s is not a number", value=text))) from None
    if not number.is_finite():
        raise BadValue(str(_l("%(value)s is not a number", value=text)))
    return number


def parse_date(text: str) -> date:
    value = text.strip()
    try:
        if match := _ISO.match(value):
            year, month, day = (int(g) for g in match.groups()[:3])
            return date(year, month, day)
        if match := _DAY_FIRST.match(value):
            day, month, year = match.groups()
            return date(int(year) + (2000 if len(year) == 2 else 0), int(month), int(day))
    except ValueError:
        pass
    raise BadValue(str(_l("%(value)s is not a date (day first, e.g. 31-12-2026, or 2026-12-31)", value=text)))


def unescape(text: str) -> str:
    """An exported `'=…` cell back to what it was (the export's formula guard)."""
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_START:
        return text[1:]
    return text


def safe_cell(value) -> str:
    """A text cell a spreadsheet will not run as a formula: `'` before = + - @ tab CR.
    Plain numbers (a negative amount) stay numbers."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text
