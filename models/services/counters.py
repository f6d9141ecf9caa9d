"""Atomic next-number allocation that works the same on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from models.counters import Counter
from models.db import db


def next_value(name: str) -> int:
    """Increment and return counter `name`; the row lock serialises concurrent callers."""
    stmt = (
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    )
    value = db.session.execute(stmt).scalar()
    if value is not None:
        return value
    try:
        with db.session.begin_nested():
            db.session.execute(insert(Counter).values(name=name, value=1))
        return 1
    except IntegrityError:  # another transaction created it first
        return db.session.execute(stmt).scalar_one()


def advance(name: str, count: int) -> int:
    """Take `count` values of counter `name` at once and return the last one (the first is
    `last - count + 1`): one UPDATE for a whole batch, under the same row lock as next_value."""
    stmt = (
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + count)
        .returning(Counter.value)
    )
    value = db.session.execute(stmt).scalar()
    if value is not None:
        return value
    try:
        with db.session.begin_nested():
            db.session.execute(insert(Counter).values(name=name, value=count))
        return count
    except IntegrityError:  # another transaction created it first
        return db.session.execute(stmt).scalar_one()


def locked_value(name: str) -> int:
    """Counter `name`'s value (0 before its first use), its row locked for the rest of the
    transaction: a batch works out the values it will take, then takes them with `advance`."""
    value = db.session.execute(
        update(Counter).where(Counter.name == name).values(value=Counter.value).returning(Counter.value)
    ).scalar()
    return value or 0
