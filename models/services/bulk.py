"""Inserting and updating many rows in one statement (a batch of automatic reminders, an
import's batch of customers), and matching many keys with one parameter.

On PostgreSQL the rows go as one JSON parameter: `INSERT … SELECT … FROM
json_to_recordset(:rows) AS bulk(col type, …)` and `UPDATE … FROM json_to_recordset(…)` --
one short statement, compiled once, whatever the number of rows (SQLAlchemy's executemany
builds and parses a statement per 1,000 rows, and arrays of text are escaped value by value
in Python: both cost more than the database's work for 100,000). Elsewhere (SQLite) an
executemany. Values are bound as the ORM binds them (TypeDecorators' process_bind_param,
enums' values), so Money stays exact cents and datetimes keep their zone.

`add_all` writes new ORM objects that way (their ids taken from the table's sequence
first), and `among` matches a column against many values with one array parameter.
"""

from __future__ import annotations

import enum
import json
from datetime import date, datetime
from typing import Any

from collections.abc import Collection, Sequence

from sqlalchemy import (
    JSON,
    Column,
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
from sqlalchemy import inspect as inspect_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import RelationshipDirection, make_transient_to_detached
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


def add_all(objects: Sequence[Any]) -> None:
    """New ORM objects (transient: never added to the session) written now, as
    `session.add_all(objects)` and `flush()` would write them, and persistent afterwards.

    On PostgreSQL each class's objects get their ids from the table's sequence (one
    statement) and go as one INSERT from a JSON recordset (`insert_rows`), instead of the
    ORM's multi-row INSERT with a parameter per value (which psycopg re-parses every time:
    at 500 customers, 13,000 placeholders). Column defaults are applied as the ORM applies
    them (a value left None takes the column's Python default) and set on the objects, which
    then join the session as if loaded: no attribute expired, no history. A many-to-many
    collection set on an object (a customer's tags) is written as rows of its secondary
    table; other relationships must be left unset or empty, and the related objects of a
    many-to-many must be in the database (pending ones are flushed first). Elsewhere
    (SQLite): `add_all` and `flush`."""
    if not objects:
        return
    if not _is_postgresql():
        db.session.add_all(objects)
        db.session.flush()
        return
    by_class: dict[type, list[Any]] = {}
    for obj in objects:
        by_class.setdefault(type(obj), []).append(obj)
    links: dict[Table, list[dict[str, Any]]] = {}
    for cls, group in by_class.items():
        links_of = _insert_objects(cls, group)
        for table, rows in links_of.items():
            links.setdefault(table, []).extend(rows)
    for table, rows in links.items():
        insert_rows(table, rows)
    for obj in objects:
        make_transient_to_detached(obj)
        db.session.add(obj)


def _insert_objects(cls: type, group: list[Any]) -> dict[Table, list[dict[str, Any]]]:
    """One class's objects inserted (ids, defaults, one INSERT); their many-to-many rows returned."""
    mapper = inspect_(cls)
    table = mapper.local_table
    (key_column,) = mapper.primary_key
    key = mapper.get_property_by_column(key_column).key
    sequence = func.pg_get_serial_sequence(table.name, key_column.name)
    ids = sorted(db.session.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, len(group)))))
    attributes = [(prop.key, prop.columns[0]) for prop in mapper.column_attrs if prop.columns[0] is not key_column]
    if any(not isinstance(col, Column) or col.table is not table for _name, col in attributes):
        raise ValueError(f"{cls.__name__} maps more than its table's columns: not written by bulk.add_all")
    relationships = list(mapper.relationships)
    rows, links = [], {}
    pending = False
    for obj, id_ in zip(group, ids):
        state = inspect_(obj)
        if not state.transient:
            raise ValueError(f"{obj!r} is not new")
        values = state.dict  # a transient object's own: written directly, as a flush fills in defaults
        values[key] = id_
        row = {key_column.key: id_}
        for name, col in attributes:
            value = values.get(name)
            if value is None:
                value = values[name] = _default(col)  # every column loaded: nothing expires in the session
            row[col.key] = value
        rows.append(row)
        for rel in relationships:
            children = state.dict.get(rel.key)
            if not children:
                continue
            if rel.direction is not RelationshipDirection.MANYTOMANY:
                raise ValueError(f"{cls.__name__}.{rel.key} is not written by bulk.add_all")
            for child in children:
                pending = pending or inspect_(child).pending
                links.setdefault(rel.secondary, []).append((rel, obj, child))
    insert_rows(table, rows)
    if pending:
        db.session.flush()  # a new tag, say: its id first
    return {secondary: [_link_row(rel, obj, child) for rel, obj, child in items]
            for secondary, items in links.items()}


def _default(col) -> Any:
    """What the ORM's INSERT would write for a column left None: its Python default."""
    default = col.default
    if default is None:
        if col.server_default is not None:
            raise ValueError(f"{col} has a server default only: not written by bulk.add_all")
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)
    raise ValueError(f"{col}'s default is not written by bulk.add_all")


def _link_row(rel, parent, child) -> dict[str, Any]:
    row = {}
    for local, remote in rel.synchronize_pairs:
        row[remote.key] = getattr(parent, inspect_(type(parent)).get_property_by_column(local).key)
    for local, remote in rel.secondary_synchronize_pairs:
        row[remote.key] = getattr(child, inspect_(type(child)).get_property_by_column(local).key)
    return row
