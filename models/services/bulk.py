"""Inserting and updating many rows in one statement (a batch of automatic reminders, an
import's batch of customers), and matching many keys with one parameter.

On PostgreSQL the rows go as one JSON parameter: `INSERT … SELECT … FROM
json_to_recordset(:rows) AS bulk(col type, …)` and `UPDATE … FROM json_to_recordset(…)` --
one short statement, compiled once, whatever the number of rows (SQLAlchemy's executemany
builds and parses a statement per 1,000 rows, and arrays of text are escaped value by value
in Python: both cost more than the database's work for 100,000). Elsewhere (SQLite) an
executemany. Values are bound as the ORM binds them (TypeDecorators' process_bind_param,
enums' values), so Money stays exact cents and datetimes keep their zone.

`among` matches a column against many values with one array parameter.
"""

from __future__ import annotations

import enum
import json
from datetime import date, datetime
from typing import Any

from collections.abc import Collection

from sqlalchemy import (
    JSON,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import Enum, String, Text

from models.db import db


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _plain(value: Any, column_type) -> Any:
    """A value as JSON carries it to PostgreSQL: bound like the ORM binds it (Money as cents,
    UTC datetimes, enums' values), dates and times as ISO text."""
    if isinstance(column_type, TypeDecorator):
        value = column_type.process_bind_param(value, None)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _sql_type(column_type):
    """The column's type as the record's column definition (what the value is read as)."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl
    if isinstance(column_type, Enum):
        return String(column_type.length)
    return column_type


def _json_default(value: Any) -> Any:
    """What json.dumps cannot write itself, as _plain writes it (enums not based on str, dates)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not carried as JSON")


def _recordset(table: Table, rows: list[dict[str, Any]], names: list[str]):
    """The rows as one JSON parameter read back by json_to_recordset, typed per column."""
    types = {name: table.c[name].type for name in names}
    decorated = [(name, types[name]) for name in names if isinstance(types[name], TypeDecorator)]
    plain = []
    for row in rows:  # as _plain, value by value only where a TypeDecorator binds it
        values = {name: row[name] for name in names}
        for name, type_ in decorated:
            values[name] = _plain(values[name], type_)
        plain.append(values)
    document = json.dumps(plain, default=_json_default)
    return (func.json_to_recordset(cast(bindparam("bulk_rows", document, type_=Text), JSON))
            .table_valued(*[column(name, _sql_type(types[name])) for name in names])
            .render_derived(name="bulk", with_types=True))


def insert_rows(table: Table, rows: list[dict[str, Any]], *, returning: tuple = (),
                ignore_conflicts: bool = False) -> list:
    """INSERT `rows` (dicts with the same keys; no Python-side defaults are added) and return
    the `returning` columns of the rows inserted (with `ignore_conflicts`, those that did
    not collide with a unique constraint: ON CONFLICT DO NOTHING), in no particular order."""
    if not rows:
        return []
    names = list(rows[0])
    if _is_postgresql():
        source = _recordset(table, rows, names)
        stmt = postgresql.insert(table).from_select(names, select(*[source.c[name] for name in names]),
                                                    include_defaults=False)
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
        source = _recordset(table, rows, names)
        db.session.execute(update(table).where(*[table.c[key] == source.c[key] for key in keys])
                           .values({name: source.c[name] for name in values}))
        return
    db.session.execute(update(table).where(*[table.c[key] == bindparam(f"_{key}") for key in keys])
                       .values({name: bindparam(f"_{name}") for name in values}),
                       [{f"_{name}": row[name] for name in names} for row in rows])


def among(expression, values: Collection, item_type=None):
    """`expression IN values`. On PostgreSQL `expression = ANY(:values)`: one array
    parameter, so the statement's text (and psycopg's prepared statement) is the same
    whatever the number of values, and a generic plan reads it as a few values (an index
    scan) rather than as one parameter each, which without statistics the planner takes
    for a large part of the table (a sequential scan comparing every row with every value).
    `item_type`: the values' SQL type when not the expression's."""
    if _is_postgresql():
        array = postgresql.ARRAY(item_type if item_type is not None else expression.type)
        return expression == any_(bindparam(None, list(values), type_=array))
    return expression.in_(list(values))


