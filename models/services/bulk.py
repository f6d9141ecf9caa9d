"""Inserting and updating many rows in one statement (a batch of automatic reminders).

On PostgreSQL the rows go as one array per column: `INSERT … SELECT unnest(:a), unnest(:b)`
and `UPDATE … FROM (SELECT unnest(…))` -- one short statement, compiled once, whatever the
number of rows (SQLAlchemy's executemany builds and parses a statement per 1,000 rows,
which costs more than the database's work for 100,000). Elsewhere (SQLite) an executemany.
Values are as the ORM would bind them (TypeDecorators' process_bind_param, enums' values,
JSON as text), so Money and UTC columns stay exact.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from sqlalchemy import JSON, Table, TypeDecorator, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import Enum, Text

from models.db import db


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _array(table: Table, name: str, values: list[Any], dialect):
    """`unnest(:bulk_<name>)` of one column's values, typed and converted like a bind."""
    column_type = table.c[name].type
    if isinstance(column_type, JSON):
        return cast(func.unnest(bindparam(f"bulk_{name}", [None if v is None else json.dumps(v) for v in values],
                                          type_=postgresql.ARRAY(Text))), column_type)
    if isinstance(column_type, TypeDecorator):
        values = [column_type.process_bind_param(v, dialect) for v in values]
        column_type = column_type.impl
    if isinstance(column_type, Enum):
        values = [v.value if isinstance(v, enum.Enum) else v for v in values]
        column_type = Text()
    return func.unnest(bindparam(f"bulk_{name}", values, type_=postgresql.ARRAY(column_type)))


def insert_rows(table: Table, rows: list[dict[str, Any]], *, returning: tuple = (),
                ignore_conflicts: bool = False) -> list:
    """INSERT `rows` (dicts with the same keys; no Python-side defaults are added) and return
    the `returning` columns of the rows inserted (with `ignore_conflicts`, those that did
    not collide with a unique constraint: ON CONFLICT DO NOTHING), in no particular order."""
    if not rows:
        return []
    names = list(rows[0])
    if _is_postgresql():
        dialect = db.session.get_bind().dialect
        source = select(*[_array(table, name, [row[name] for row in rows], dialect).label(name) for name in names])
        stmt = postgresql.insert(table).from_select(names, source, include_defaults=False)
        if ignore_conflicts:
            stmt = stmt.on_conflict_do_nothing()
        if returning:
            return db.session.execute(stmt.returning(*returning)).all()
        db.session.execute(stmt)
        return []
    stmt = sqlite.insert(table).on_conflict_do_nothing() if ignore_conflicts else insert(table)
    if returning:
        return db.session.execute(stmt.returning(*returning), rows).all()
    db.session.execute(stmt, rows)
    return []


def update_rows(table: Table, keys: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """UPDATE the rows matched by `keys` (each dict has the keys and the columns to set)."""
    if not rows:
        return
    names = list(rows[0])
    values = [name for name in names if name not in keys]
    if _is_postgresql():
        dialect = db.session.get_bind().dialect
        source = select(*[_array(table, name, [row[name] for row in rows], dialect).label(name)
                          for name in names]).subquery("bulk")
        db.session.execute(update(table).where(*[table.c[key] == source.c[key] for key in keys])
                           .values({name: source.c[name] for name in values}))
        return
    db.session.execute(update(table).where(*[table.c[key] == bindparam(f"_{key}") for key in keys])
                       .values({name: bindparam(f"_{name}") for name in values}),
                       [{f"_{name}": row[name] for name in names} for row in rows])
