"""Money is exact: Decimal in Python, scaled integers in the database, never a float."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from models.db import Money, ScaledDecimal, db
from models.documents import Document, DocumentKind, DocumentLine, DocumentStatus
from models.services.documents import LineInput, Totals, compute_totals, line_net
from tests import factories

D = Decimal


def line(quantity: str, price: str, vat: str = "21") -> LineInput:
    return LineInput("x", D(quantity), D(price), D(vat))


# ---------------------------------------------------------------- compute_totals


def test_totals_of_a_mixed_invoice():
    totals = compute_totals([line("3", "19.99", "21"), line("1", "0.35", "9")])
    assert totals == Totals(net=D("60.32"), tax=D("12.62"), gross=D("72.94"))
    assert all(type(v) is Decimal for v in (totals.net, totals.tax, totals.gross))


LINE_NETS = [
    ("1", "0.005", "0.01"),  # half a cent rounds up
    ("3", "0.335", "1.01"),  # 1.005 → 1.01 (a float would give 1.00)
    ("0.5", "0.01", "0.01"),  # 0.005 → 0.01
    ("0.4", "0.01", "0.00"),  # 0.004 → 0.00
    ("1.5", "-0.01", "-0.02"),  # half away from zero for credits too
    ("2.345", "80.00", "187.60"),
    ("1000000", "999999.99", "999999990000.00"),
]


def test_line_net_rounds_half_up_per_line():
    for quantity, price, expected in LINE_NETS:
        net = line_net(line(quantity, price))
        assert net == D(expected) and str(net) == expected, (quantity, price)  # always two decimals


def test_each_line_is_rounded_before_summing():
    # 3 × (1 × 0.005) rounds to 0.01 each: 0.03, not round(0.015) = 0.02
    assert compute_totals([line("1", "0.005", "0")] * 3).net == D("0.03")


def test_vat_is_computed_per_rate_over_the_summed_nets():
    # per line: 0.021 → 0.02 three times = 0.06 and 0.045 → 0.05 three times = 0.15 (0.21)
    # per rate: 0.30 × 21 % = 0.063 → 0.06 and 1.50 × 9 % = 0.135 → 0.14 (0.20)
    totals = compute_totals([line("1", "0.10", "21")] * 3 + [line("1", "0.50", "9")] * 3)
    assert totals == Totals(net=D("1.80"), tax=D("0.20"), gross=D("2.00"))


def test_vat_rounds_half_up():
    assert compute_totals([line("1", "0.50", "1")]).tax == D("0.01")  # 0.005
    assert compute_totals([line("1", "0.49", "1")]).tax == D("0.00")  # 0.0049
    assert compute_totals([line("1", "10.00", "7.5")]).tax == D("0.75")


def test_same_rate_written_differently_is_one_rate():
    # 21 and 21.00 are the same rate: one rounding over 0.30, not two (0.02 + 0.04 = 0.06 either way here)
    totals = compute_totals([line("1", "0.10", "21"), line("1", "0.20", "21.00")])
    assert totals.tax == D("0.06")
    totals = compute_totals([line("1", "0.05", "10"), line("1", "0.05", "10.0")])
    assert totals.tax == D("0.01")  # 0.10 × 10 % = 0.010, not 0.005 → 0.01 twice = 0.02


def test_zero_and_empty():
    assert compute_totals([]) == Totals(D("0.00"), D("0.00"), D("0.00"))
    assert compute_totals([line("1", "100.00", "0")]) == Totals(D("100.00"), D("0.00"), D("100.00"))


def test_many_small_amounts_stay_exact():
    totals = compute_totals([line("1", "0.10", "0")] * 10 + [line("1", "0.20", "0")] * 10)
    assert totals.net == D("3.00")
    assert sum([0.1] * 10 + [0.2] * 10) != 3.0  # what floats would have done


# ---------------------------------------------------------------- ScaledDecimal


@pytest.fixture
def dialect(app):
    with app.app_context():
        return db.engine.dialect


def test_scaled_decimal_converts_to_integers_and_back(dialect):
    money = Money()
    assert money.process_bind_param(D("12345678.91"), dialect) == 1234567891
    assert money.process_bind_param(D("-0.05"), dialect) == -5
    assert money.process_bind_param(D("7"), dialect) == 700
    assert money.process_bind_param(None, dialect) is None
    assert money.process_result_value(1234567891, dialect) == D("12345678.91")
    assert str(money.process_result_value(700, dialect)) == "7.00"
    assert money.process_result_value(None, dialect) is None
    assert ScaledDecimal(3).process_bind_param(D("2.345"), dialect) == 2345
    assert str(ScaledDecimal(3).process_result_value(2345, dialect)) == "2.345"


def test_scaled_decimal_refuses_more_decimals_than_its_scale(dialect):
    # 0.1 as a float is 0.1000000000000000055511151231257827…: refused, never silently rounded
    for value in (D("0.001"), D("19.999"), D("-0.005"), 0.1):
        with pytest.raises(ValueError, match="decimal places"):
            Money().process_bind_param(value, dialect)


def test_scaled_decimal_accepts_trailing_zeros(dialect):
    assert Money().process_bind_param(D("1.2300"), dialect) == 123
    with pytest.raises(ValueError):
        ScaledDecimal(3).process_bind_param(D("1.2345"), dialect)


def _document(customer_id: int, number: str, **amounts) -> Document:
    values = dict(net_total=D("0"), tax_total=D("0"), gross_total=D("0"), amount_paid=D("0"))
    values.update(amounts)
    return Document(
        customer_id=customer_id, kind=DocumentKind.invoice, number=number, issue_date=date(2025, 1, 1),
        due_date=date(2025, 1, 15), currency="EUR", status=DocumentStatus.open, **values,
    )


def test_too_many_decimals_are_refused_by_the_database_layer(app):
    customer = factories.customer()
    with app.app_context():
        db.session.add(_document(customer.id, "X-1", gross_total=D("0.001")))
        with pytest.raises(StatementError, match="decimal places"):
            db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


# ---------------------------------------------------------------- through the database


def test_amounts_round_trip_exactly(app):
    customer = factories.customer()
    amounts = ["0.30", "12345678.91", "-0.01", "0.00", "90071992547409.93"]  # the last is 2**53 + 1 cents
    with app.app_context():
        db.session.add_all(
            _document(customer.id, f"R-{n}", gross_total=D(amount), amount_paid=D("0.10") + D("0.20"))
            for n, amount in enumerate(amounts)
        )
        db.session.commit()
    with app.app_context():
        documents = db.session.scalars(select(Document).order_by(Document.id)).all()
        assert [str(d.gross_total) for d in documents] == amounts
        assert [d.gross_total for d in documents] == [D(a) for a in amounts]
        assert all(type(d.gross_total) is Decimal and d.amount_paid == D("0.30") for d in documents)
        # what is stored is the exact number of cents
        raw = db.session.scalars(select(Document.__table__.c.gross_total.cast(db.BigInteger)).order_by(Document.id)).all()
        assert raw == [int(D(a) * 100) for a in amounts]


def test_line_amounts_round_trip(app):
    customer = factories.customer()
    with app.app_context():
        document = _document(customer.id, "L-1")
        document.lines = [DocumentLine(position=1, description="x", quantity=D("2.345"), unit_price=D("80.00"), vat_rate=D("5.5"), net_amount=D("187.60"))]
        db.session.add(document)
        db.session.commit()
    with app.app_context():
        stored = db.session.scalar(select(DocumentLine))
        assert (stored.quantity, stored.unit_price, stored.vat_rate, stored.net_amount) == (D("2.345"), D("80.00"), D("5.50"), D("187.60"))


def test_sums_in_sql_stay_exact(app):
    customer = factories.customer()
    with app.app_context():
        db.session.add_all(_document(customer.id, f"S-{n}", gross_total=D("0.10")) for n in range(10))
        db.session.add_all(_document(customer.id, f"T-{n}", gross_total=D("0.20")) for n in range(10))
        db.session.add(_document(customer.id, "B-1", gross_total=D("12345678.91"), amount_paid=D("0.92")))
        db.session.commit()
        total = db.session.scalar(select(func.sum(Document.gross_total)))
        assert total == D("12345681.91")
        assert type(total) is Decimal and str(total) == "12345681.91"
        small = db.session.scalar(select(func.sum(Document.gross_total)).where(Document.number.like("S-%")))
        assert small == D("1.00")
        # arithmetic on amounts in SQL is still an amount (not a count of cents)
        outstanding = db.session.scalar(select(func.sum(Document.gross_total - Document.amount_paid)))
        assert outstanding == D("12345680.99") and type(outstanding) is Decimal
        assert db.session.scalar(select(func.sum(Document.gross_total) - func.sum(Document.amount_paid))) == D("12345680.99")
        big = select(Document.gross_total + Document.amount_paid, Document.gross_total - D("0.01")).where(Document.number == "B-1")
        assert tuple(db.session.execute(big).one()) == (D("12345679.83"), D("12345678.90"))


def test_invoice_totals_survive_the_database(app):
    customer = factories.customer()
    invoice = factories.invoice(customer, amount="19.99", vat="21")
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (D("19.99"), D("4.20"), D("24.19"))
    with app.app_context():
        assert db.session.scalar(select(func.sum(Document.tax_total))) == D("4.20")
