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
- A counter moves once per transaction (readers see the old value until the commit, so a
  second move would change nothing), which keeps bulk work to one UPDATE per customer. A
  page rendered inside a transaction that moved a counter is not kept (`unsettled`).
- A Core INSERT/UPDATE/DELETE on a customer-scoped table bypasses the flush, so it must say
  what it did about revisions with `.execution_options(revisions=…)`: `touch_customers`
  in the same transaction, or "not shown" for columns no page renders. A
  statement that says nothing raises `RevisionWarning` (an error in the test suite).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from sqlalchemy import event, select, update
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import instance_state

from models.customers import Customer
from models.db import db
from models.settings import BusinessSettings

HANDLED = "handled"  # the statement's customers are touched by the caller
NOT_SHOWN = "not shown"  # only columns no cached page renders (leases, timestamps of claims)
_PENDING = "revisions.pending"  # session.info: what a flush moved, expired after it
_MOVED = "revisions.moved"  # session.info: customer ids (and _BUSINESS) moved in this transaction
_UNSETTLED = "revisions.unsettled"  # session.info: the open transaction moved a counter
_BUSINESS = "business"


class RevisionWarning(UserWarning):
    """A Core statement changed customer data without saying how revisions follow."""


_BUSINESS_REVISION = select(BusinessSettings.revision).order_by(BusinessSettings.id).limit(1)


def business_revision() -> int | None:
    """None before the settings row exists: business changes then move no counter, so no
    page may be kept until it does (the first save of the settings, or the demo seed)."""
    return db.session.scalar(_BUSINESS_REVISION)


def unsettled(session: Session) -> bool:
    """This transaction moved a counter: what it renders may still change before the commit
    under the same revision, so it must not be kept."""
    return session.info.get(_UNSETTLED, False)


def touch_customers(session: Session, customer_ids: Iterable[int | None]) -> None:
    """Move these customers' revisions, in the caller's transaction."""
    ids = _bump_customers(session, customer_ids)
    _expire_loaded(session, ids, business=False)


def _bump_customers(session: Session, customer_ids: Iterable[int | None]) -> set[int]:
    """Sorted, so concurrent transactions lock customer rows in one order (no deadlock)."""
    moved = session.info.setdefault(_MOVED, set())
    ids = sorted({i for i in customer_ids if i is not None} - moved)
    if ids:
        table = Customer.__table__
        session.connection().execute(update(table).where(table.c.id.in_(ids)).values(revision=table.c.revision + 1))
        moved.update(ids)
        session.info[_UNSETTLED] = True
    return set(ids)


def _bump_business(session: Session) -> bool:
    moved = session.info.setdefault(_MOVED, set())
    if _BUSINESS in moved:
        return False
    table = BusinessSettings.__table__
    session.connection().execute(update(table).values(revision=table.c.revision + 1))
    moved.add(_BUSINESS)
    session.info[_UNSETTLED] = True
    return True


def _expire_loaded(session: Session, ids: set[int], *, business: bool) -> None:
    """The counters were moved in SQL: loaded objects must read them again, not reuse
    the number they were loaded with (a key built from it would be an old one)."""
    loaded = (session.identity_map.get(identity_key(Customer, id_)) for id_ in ids)
    if business:
        settings = (obj for obj in session.identity_map.values() if isinstance(obj, BusinessSettings))
        loaded = (*loaded, *settings)
    for obj in loaded:
        if obj is not None and not instance_state(obj).deleted:
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
    ids = _bump_customers(session, customers)
    business = business and _bump_business(session)
    if ids or business:
        session.info[_PENDING] = (ids, business)


@event.listens_for(Session, "after_flush_postexec")
def _after_flush_postexec(session: Session, _context) -> None:
    ids, business = session.info.pop(_PENDING, (set(), False))
    if ids or business:
        _expire_loaded(session, ids, business=business)


@event.listens_for(Session, "after_transaction_end")
def _forget_moved(session: Session, transaction) -> None:
    """Committed or rolled back, the next transaction moves counters afresh; after a
    savepoint, too (its moves may be undone). A flush's own inner transaction is part of
    the outer one and changes nothing."""
    if transaction.nested:
        session.info.pop(_MOVED, None)
    elif transaction.parent is None:
        session.info.pop(_MOVED, None)
        session.info.pop(_UNSETTLED, None)


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
