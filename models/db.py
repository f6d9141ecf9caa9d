"""The SQLAlchemy handle, the declarative base and the column types shared by all entities."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import BigInteger, DateTime, MetaData, TypeDecorator, event
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session
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


db = SQLAlchemy(model_class=Base)


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


def autocommit_reads() -> None:
    """Run this request's statements in autocommit: one round trip each, without the BEGIN
    before the first and the ROLLBACK that ends a read-only transaction (on a page of one
    or two statements those were two of its three round trips). Reads see what they would
    under READ COMMITTED anyway; a write the view makes commits on its own. Call it before
    the request's first statement."""
    db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


_READS_FIRST = "reads_first"


def reads_first() -> None:
    """Read in autocommit until begin_writes() opens a transaction: for a POST that often
    writes nothing (a row saved unchanged, a refused form), which then costs no BEGIN and
    no ROLLBACK round trip. Call it before the request's first statement; every write
    must come after begin_writes(), or it raises (a write in autocommit would be alone,
    not atomic with the ones after it)."""
    autocommit_reads()
    db.session.info[_READS_FIRST] = True


def begin_writes() -> None:
    """Domain functions that write call this first; a no-op unless reads_first() is on.

    Ends the autocommit reads (their transaction is empty: nothing to commit) without
    expiring what they loaded, so the next statement opens a real transaction on those
    objects. Under READ COMMITTED that transaction could not have seen anything else.
    """
    session = db.session()  # the request's Session itself (its settings are not proxied)
    if not session.info.pop(_READS_FIRST, False):
        return
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("begin_writes() must come before the first change to a loaded object")
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire_on_commit


def _refuse_autocommit_write(session: Session) -> None:
    if session.info.get(_READS_FIRST):
        raise RuntimeError("a write while reads_first() is on: call begin_writes() first (models/db.py)")


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context, _instances) -> None:
    _refuse_autocommit_write(session)


@event.listens_for(Session, "do_orm_execute")
def _before_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _refuse_autocommit_write(state.session)
