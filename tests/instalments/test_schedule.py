"""The schedule arithmetic and the business's limits, without the web: exact cents that add
up to the total, monthly dates that survive short months, and the refusals' messages."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.customers import Customer
from models.db import db
from models.services import instalments
from models.services.errors import DomainError
from models.services.settings import get_settings
from tests import factories
from tests.questions.helpers import set_settings
from models import clock

TODAY = date(2025, 1, 31)


@given(cents=st.integers(min_value=1, max_value=10**15), count=st.integers(min_value=1, max_value=120))
@settings(max_examples=300, deadline=None, database=None)
def test_the_amounts_add_up_to_the_total_exactly(cents, count):
    total = Decimal(cents).scaleb(-2)
    amounts = instalments.split(total, count)
    assert len(amounts) == count
    assert sum(amounts, Decimal("0.00")) == total
    assert all(a == a.quantize(Decimal("0.01")) for a in amounts)
    # All the same but the last, which carries the remainder (fewer cents than instalments).
    assert len(set(amounts[:-1])) <= 1
    assert Decimal("0") <= amounts[-1] - amounts[0] < Decimal(count).scaleb(-2)


def test_the_remainder_goes_on_the_last_instalment():
    assert instalments.split(Decimal("100.00"), 3) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    assert instalments.split(Decimal("0.05"), 2) == [Decimal("0.02"), Decimal("0.03")]
    assert instalments.split(Decimal("181.50"), 3) == [Decimal("60.50")] * 3


def test_split_refuses_fractions_of_cents():
    with pytest.raises(ValueError):
        instalments.split(Decimal("1.005"), 2)


@pytest.mark.parametrize("start, months, expected", [
    (date(2025, 1, 31), 1, date(2025, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2025, 1, 31), 2, date(2025, 3, 31)),
    (date(2025, 8, 31), 1, date(2025, 9, 30)),
    (date(2025, 11, 15), 2, date(2026, 1, 15)),
    (date(2025, 12, 1), 13, date(2027, 1, 1)),
])
def test_months_are_added_like_a_calendar(start, months, expected):
    assert instalments.add_months(start, months) == expected


def test_the_schedule_is_monthly_from_the_start_date():
    rows = instalments.schedule(Decimal("100.00"), 3, TODAY)
    assert [(r.position, r.due_date, r.amount) for r in rows] == [
        (1, date(2025, 1, 31), Decimal("33.33")),
        (2, date(2025, 2, 28), Decimal("33.33")),
        (3, date(2025, 3, 31), Decimal("33.34")),
    ]


@pytest.mark.parametrize("total, max_count, minimum, expected", [
    ("100.00", 6, "25.00", 4),    # 4 × 25.00
    ("99.99", 6, "25.00", 3),     # 4 × 24.99 would be too little
    ("1000.00", 6, "25.00", 6),   # the setting limits
    ("49.99", 6, "25.00", 1),     # cannot be split
    ("10.00", 6, "0.00", 6),      # no minimum
    ("10.00", 500, "0.00", 120),  # never more than the hard limit
])
def test_the_most_instalments_possible(app, total, max_count, minimum, expected):
    with app.app_context():
        business = get_settings()
        business.instalment_max_count, business.instalment_min_amount = max_count, Decimal(minimum)
        assert instalments.max_count(business, Decimal(total)) == expected


# --- the rules, through propose() --------------------------------------------------------------


@pytest.fixture
def debtor_with_100(app):
    customer = factories.customer(language="en")
    factories.invoice(customer, amount="100.00", vat="0")
    return customer


def _propose(app, customer, **values):
    with app.app_context(), app.test_request_context(headers={"Accept-Language": "en"}):
        record = db.session.get(Customer, customer.id)
        arguments = {"currency": "EUR", "count": 2, "start_date": clock.today(), "today": clock.today(), **values}
        return instalments.propose(get_settings(), record, **arguments)


def _refusal(app, customer, **values) -> tuple[str | None, str]:
    with pytest.raises(DomainError) as caught:
        _propose(app, customer, **values)
    return caught.value.field, str(caught.value.message)


def test_too_many_instalments_are_refused_with_the_maximum_possible(app, debtor_with_100):
    set_settings(app, instalment_max_count=6, instalment_min_amount=Decimal("25.00"))
    assert _refusal(app, debtor_with_100, count=5) == (
        "count", "Each instalment must be at least €25.00: for €100.00 that is at most 4 instalments.")
    assert len(_propose(app, debtor_with_100, count=4).schedule) == 4
    set_settings(app, instalment_max_count=3)
    assert _refusal(app, debtor_with_100, count=4) == ("count", "At most 3 instalments are possible.")
    assert _refusal(app, debtor_with_100, count=1) == ("count", "Choose at least 2 instalments.")
    assert _refusal(app, debtor_with_100, count=-7) == ("count", "Choose at least 2 instalments.")


def test_a_total_too_small_to_split_is_refused(app, debtor_with_100):
    set_settings(app, instalment_min_amount=Decimal("60.00"))
    assert _refusal(app, debtor_with_100, count=2) == (
        "count", "€100.00 cannot be split: each instalment must be at least €60.00.")


def test_the_first_payment_date_is_today_to_30_days_ahead(app, debtor_with_100):
    today = clock.today()
    assert _propose(app, debtor_with_100, start_date=today).start_date == today
    assert _propose(app, debtor_with_100, start_date=today + timedelta(days=30)).start_date == today + timedelta(days=30)
    for wrong in (today - timedelta(days=1), today + timedelta(days=31), date(1, 1, 1), None):
        field, message = _refusal(app, debtor_with_100, start_date=wrong)
        assert field == "start_date" and message.startswith("Choose a first payment date from ")


def test_the_currency_must_be_one_of_the_open_invoices(app, debtor_with_100):
    assert _refusal(app, debtor_with_100, currency="USD") == ("currency", "Choose the currency of your open invoices.")
    assert _refusal(app, debtor_with_100, currency=None)[0] == "currency"


def test_auto_approval_up_to_the_setting(app, debtor_with_100):
    set_settings(app, instalment_auto_approve_up_to=Decimal("100.00"))
    assert _propose(app, debtor_with_100).needs_approval is False
    set_settings(app, instalment_auto_approve_up_to=Decimal("99.99"))
    assert _propose(app, debtor_with_100).needs_approval is True


def test_plans_switched_off_or_max_below_two_are_not_offered(app, debtor_with_100):
    set_settings(app, allow_instalments=False)
    assert _refusal(app, debtor_with_100) == (None, "Instalment plans are not offered.")
    set_settings(app, allow_instalments=True, instalment_max_count=1)
    assert _refusal(app, debtor_with_100) == (None, "Instalment plans are not offered.")


def test_nothing_open_nothing_to_plan(app):
    customer = factories.customer(language="en")
    assert _refusal(app, customer) == (None, "You have no open invoices to pay in instalments.")
