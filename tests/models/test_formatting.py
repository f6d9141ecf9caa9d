"""The fast formatters print exactly what Flask-Babel prints, in every language we ship."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import flask_babel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import formatting

LOCALES = ("en", "nl", "de")
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "SEK", "KWD")


amounts = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=3,
                      allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(amount=amounts, locale=st.sampled_from(LOCALES), currency=st.sampled_from(CURRENCIES))
def test_money_matches_babel(app, amount, locale, currency):
    with app.test_request_context("/", headers={"Accept-Language": locale}):
        assert str(flask_babel.get_locale()) == locale
        assert formatting.format_currency(amount, currency) == flask_babel.format_currency(amount, currency)


@pytest.mark.parametrize("locale", LOCALES)
def test_money_examples(app, locale):
    expected = {"en": "€1,234.50", "nl": "€\xa01.234,50", "de": "1.234,50\xa0€"}[locale]
    with app.test_request_context("/", headers={"Accept-Language": locale}):
        assert formatting.format_currency(Decimal("1234.5"), "EUR") == expected
        assert "-" in formatting.format_currency(Decimal("-3"), "EUR")


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)),
       locale=st.sampled_from(LOCALES), format=st.sampled_from(("short", "medium", "long")))
def test_dates_match_babel(app, day, locale, format):
    with app.test_request_context("/", headers={"Accept-Language": locale}):
        assert formatting.format_date(day, format) == flask_babel.format_date(day, format)


@settings(max_examples=200, deadline=None)
@given(moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1)),
       aware=st.booleans(), locale=st.sampled_from(LOCALES))
def test_datetimes_match_babel(app, moment, aware, locale):
    """Aware and naive (= UTC) values, across daylight-saving changes in the local zone."""
    if aware:
        moment = moment.replace(tzinfo=timezone(timedelta(hours=3)))
    with app.test_request_context("/", headers={"Accept-Language": locale}):
        for format in ("short", "medium"):
            assert formatting.format_datetime(moment, format) == flask_babel.format_datetime(moment, format)
        assert formatting.format_date(moment) == flask_babel.format_date(moment)


def test_empty_values_print_nothing(app):
    with app.test_request_context("/"):
        assert formatting.format_date(None) == ""
        assert formatting.format_datetime(None) == ""


@pytest.mark.parametrize("locale", LOCALES)
def test_shipped_languages_take_the_fast_path(app, locale):
    """Otherwise every amount silently goes through Babel's slow path again."""
    for currency in CURRENCIES:
        assert formatting._money_formatter(locale, currency).__name__ == "fast"
