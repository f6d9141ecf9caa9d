"""Revisions: a counter per customer, and one for the whole business, that every write moves.

Why: the pages read most (a customer's Overview, the dossier a debtor opens from every
e-mail) are mostly rendering work, and the same data renders the same HTML. A page may
keep its rendered HTML under a key that holds these counters (web/page_cache.py); any change
that could show on the page moves a counter in the same transaction, so the next request
builds a new key and nothing stale is ever served.

The rule, kept here once and enforced rather than remembered:
- Every ORM flush moves the counters by itself (`after_flush`): a `Customer`, or any row
  with a `customer_id`, moves that customer's revision; any other entity (staff users,
  portal users, settings, tags, custom fields, invoice lines…) moves the business
  revision, which every cache key also holds. Objects marked dirty but unchanged move
  nothing.
- A Core INSERT/UPDATE/DELETE on a customer-scoped table bypasses the flush, so it must say
  what it did about revisions with `.execution_options(revisions=…)`: `touch_customers`
  / `touch_via` in the same transaction, or "not shown" for columns no page renders. A
  statement that says nothing raises `RevisionWarning` (an error in the test suite).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from sqlalchemy import Connection, Table, event, select, update
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import instance_state

from models.customers import Customer
from models.settings import BusinessSettings

HANDLED = "handled"  # the statement's customers are touched by the caller
NOT_SHOWN = "not shown"  # only columns no cached page renders (leases, timestamps of claims)
_PENDING = "revisions.pending"  # session.info: what a flush moved, expired after it


class RevisionWarning(UserWarning):
    """A Core statement changed customer data without saying how revisions follow."""


_BUSINESS_REVISION = select(BusinessSettings.revision).order_by(BusinessSettings.id).limit(1)


def business_revision() -> int | None:
    """None before the settings row exists: business changes then move no counter, so no
    page may be kept until it does (the first save of the settings, or the demo seed)."""
    from models.db import db

    return db.session.scalar(_BUSINESS_REVISION)


def touch_customers(session: Session, customer_ids: Iterable[int | None]) -> None:
    """Move these customers' revisions, in the caller's transaction."""
    ids = _bump_customers(session.connection(), customer_ids)
    _expire_loaded(session, ids, business=False)


def touch_via(session: Session, table: Table, row_ids: Iterable[int]) -> None:
    """Move the revisions of the customers owning these rows of a customer-scoped table."""
    row_ids = sorted(set(row_ids))
    if row_ids:
        owners = session.connection().execute(
            select(table.c.customer_id).where(table.c.id.in_(row_ids)).distinct()
        ).scalars().all()
        touch_customers(session, owners)


def _bump_customers(connection: Connection, customer_ids: Iterable[int | None]) -> set[int]:
    """Sorted, so concurrent transactions lock customer rows in one order (no deadlock)."""
    ids = sorted({i for i in customer_ids if i is not None})
    if ids:
        table = Customer.__table__
        connection.execute(update(table).where(table.c.id.in_(ids)).values(revision=table.c.revision + 1))
    return set(ids)


def _bump_business(connection: Connection) -> None:
    table = BusinessSettings.__table__
    connection.execute(update(table).values(revision=table.c.revision + 1))


def _expire_loaded(session: Session, ids: set[int], *, business: bool) -> None:
    """The counters were moved in SQL: loaded objects must read them again, not reuse
    the number they were loaded with (a key built from it would be an old one)."""
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, Customer) and obj.id in ids) or (business and isinstance(obj, BusinessSettings)):
            if not instance_state(obj).deleted:
                session.expire(obj, ["revision"])


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    customers: set[int | None] = set()
    business = False
    changed = (o for o in session.dirty if session.is_modified(o, include_collections=True))
    for obj in (*session.new, *session.deleted, *changed):
        if isinstance(obj, Customer):
            customers.add(obj.id)
        elif hasattr(type(obj), "customer_id"):
            customers.add(obj.customer_id)
        else:
            business = True
    connection = session.connection()
    ids = _bump_customers(connection, customers)
    if business:
        _bump_business(connection)
    if ids or business:
        session.info[_PENDING] = (ids, business)


@event.listens_for(Session, "after_flush_postexec")
def _after_flush_postexec(session: Session, _context) -> None:
    ids, business = session.info.pop(_PENDING, (set(), False))
    if ids or business:
        _expire_loaded(session, ids, business=business)


@event.listens_for(Session, "do_orm_execute")
def _check_core_writes(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if state.execution_options.get("revisions") in (HANDLED, NOT_SHOWN):
        return
    table = getattr(state.statement, "table", None)
    columns = getattr(table, "c", None)
    if columns is not None and ("customer_id" in columns or table.name == "customers"):
        warnings.warn(
            f"{state.statement.__visit_name__.upper()} on {table.name} without "
            "execution_options(revisions=...): cached pages would not see it (models/revisions.py)",
            RevisionWarning,
            stacklevel=4,
        )
