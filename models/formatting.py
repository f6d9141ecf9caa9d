"""Money, dates and times in the current language, fast enough for every row of a list,
and the templates' translations bound once per render (`template_translations`).

One formatter for pages, mail and services alike: the language is Flask-Babel's
`get_locale()` (the request's, or the one `force_locale` set for a mail) and the time zone
its `get_timezone()` (the business `TIMEZONE`). Templates get these as the globals
`format_currency`, `format_date`, `format_datetime` and the filters `money` and `date`.

Why not Flask-Babel's helpers directly: Babel re-reads the locale's pattern and symbols
and re-applies the CLDR pattern on every call, which was the largest single cost of the
customer page (a dozen amounts and dates per page). The output is Babel's own; only the
work is done once per (locale, currency) or (locale, value):

- money: Babel's pattern, symbols and the currency's digits are read once per locale and
  currency into a small formatter, which checks itself against Babel on construction
  and falls back to Babel for any locale or currency it does not reproduce exactly;
- dates: there are only so many days, so the formatted string is cached per locale;
- date-times at "short" (minutes): cached per minute and time zone.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask_babel import format_datetime as babel_format_datetime
from flask_babel import get_locale, get_timezone, get_translations
from jinja2 import pass_context
from markupsafe import Markup

_CHECK_VALUES = ("0", "-0.004", "0.005", "0.015", "1", "-1.5", "999.999", "1000", "-1234.565",
                 "12345.67", "-1234567.891", "100000000")


def _locale_id() -> str:
    """The current locale as Flask-Babel chose it; English outside an application."""
    locale = get_locale()
    return str(locale) if locale is not None else "en"


@functools.lru_cache(maxsize=256)
def _money_formatter(locale_id: str, currency: str):
    locale = Locale.parse(locale_id)

    def babel(amount) -> str:
        return babel_numbers.format_currency(amount, currency, locale=locale)

    pattern = babel_numbers.parse_pattern(locale.currency_formats["standard"])
    digits = babel_numbers.get_currency_precision(currency)
    if pattern.grouping != (3, 3) or pattern.scale != 0:
        return babel
    symbol = babel_numbers.get_currency_symbol(currency, locale)
    group = babel_numbers.get_group_symbol(locale)
    decimal = babel_numbers.get_decimal_symbol(locale)
    minus = babel_numbers.get_minus_sign_symbol(locale)
    step = Decimal(1).scaleb(-digits)
    prefixes = [p.replace("¤", symbol) for p in pattern.prefix]
    suffixes = [s.replace("¤", symbol) for s in pattern.suffix]
    translate = str.maketrans({",": group, ".": decimal})

    def fast(amount) -> str:
        value = Decimal(amount)
        negative = value.is_signed()  # as in Babel: -0.004 shows as "-0.00"
        value = value.quantize(step, ROUND_HALF_EVEN)
        text = f"{abs(value):,.{digits}f}".translate(translate)
        if negative:
            return prefixes[1].replace("-", minus) + text + suffixes[1]
        return prefixes[0] + text + suffixes[0]

    if all(fast(Decimal(v)) == babel(Decimal(v)) for v in _CHECK_VALUES):
        return fast
    return babel


def format_currency(amount, currency: str) -> str:
    """Like flask_babel.format_currency(amount, currency), in the request's locale."""
    return _money_formatter(_locale_id(), currency)(amount)


@functools.lru_cache(maxsize=4096)
def _date(locale_id: str, value: date, format: str) -> str:
    return babel_dates.format_date(value, format=format, locale=locale_id)


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    """Like flask_babel.format_date; a datetime is shown as its date in the local zone."""
    if value is None:
        return ""
    if isinstance(value, datetime):  # naive ones are UTC, as in Flask-Babel
        value = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(get_timezone()).date()
    return _date(_locale_id(), value, format)


@functools.lru_cache(maxsize=4096)
def _short_datetime(locale_id: str, zone: str, minute: datetime) -> str:
    return babel_dates.format_datetime(minute, format="short", tzinfo=babel_dates.get_timezone(zone),
                                       locale=locale_id)


def format_datetime(value: datetime | None, format: str = "medium") -> str:
    """Like flask_babel.format_datetime; "short" shows minutes, so it is cached per minute."""
    if value is None:
        return ""
    if format != "short":
        return babel_format_datetime(value, format)
    if value.tzinfo is None:  # naive ones are UTC, as in Flask-Babel
        value = value.replace(tzinfo=timezone.utc)
    return _short_datetime(_locale_id(), str(get_timezone()), value.replace(second=0, microsecond=0))


def template_translations() -> dict:
    """The templates' `gettext` / `ngettext` (and so `_`) for one render, bound to the
    catalogue Flask-Babel's public `get_translations()` returns now: the pages' context
    processor (wsgi.py), and the mail renderer for each message (mailers.messages).

    Why: the callables Flask-Babel installs into Jinja look the locale and catalogue up
    again for every string (about 20 µs each; the customer page has some fifty strings),
    while the answer cannot change within one render. The semantics are Jinja's newstyle
    gettext exactly (autoescaped, always `%`-formatted, `num` for plurals), and
    `force_locale` (mail, letters) is honoured because every render asks anew. Macros
    imported without context use Flask-Babel's own callables: same text, slower.
    """
    translations = get_translations()

    @pass_context
    def gettext(context, string: str, /, **variables) -> str:
        text = translations.ugettext(string)
        return (Markup(text) if context.eval_ctx.autoescape else text) % variables

    @pass_context
    def ngettext(context, singular: str, plural: str, num: int, /, **variables) -> str:
        variables.setdefault("num", num)
        text = translations.ungettext(singular, plural, num)
        return (Markup(text) if context.eval_ctx.autoescape else text) % variables

    return {"gettext": gettext, "ngettext": ngettext}
