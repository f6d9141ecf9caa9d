"""The SQLAlchemy handle, the declarative base and the column types shared by all entities."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import BigInteger, DateTime, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql import operators

# Deterministic constraint names, so Alembic can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# A view commits once, then renders what it loaded and changed: expiring every object at
# that commit would only re-read each one (a statement per object shown). Code that changes
# rows behind the ORM's back (a Core UPDATE) expires or refreshes what it shows itself.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use models.db.now_utc()")
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class ScaledDecimal(TypeDecorator):
    """An exact Decimal stored as a scaled integer (cents for money).

    SQLite has no exact decimal type; integers are exact on every database and SUM()
    over them stays exact, so amounts never pass through a float.
    """

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale

    class comparator_factory(TypeDecorator.Comparator, BigInteger.comparator_factory):  # noqa: N801
        """`a + b` and `a - b` of the same scale stay amounts; without this SQLAlchemy
        types them as the plain BigInteger impl and SUM(gross - paid) comes back in cents."""

        def _adapt_expression(self, op, other_comparator):
            other = other_comparator.type
            if op in (operators.add, operators.sub) and isinstance(other, ScaledDecimal) and other.scale == self.type.scale:
                return op, self.type
            return super()._adapt_expression(op, other_comparator)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        scaled = Decimal(value).scaleb(self.scale)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        return int(scaled)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-self.scale)


def Money() -> ScaledDecimal:  # noqa: N802 - reads like a type in column declarations
    return ScaledDecimal(2)
