"""Which customers a staff user may see. Every admin lookup of a customer goes through here.

An employee sees the customers assigned to them unless they have "view all customers";
anything else is reported as not found, so IDs in URLs prove nothing.
"""

from __future__ import annotations

from sqlalchemy import bindparam, exists, select
from sqlalchemy.sql import ColumnElement

from models.customers import Customer, customer_assignments
from models.db import db
from models.services.errors import NotFound
from models.staff import StaffUser


def customer_visibility(staff: StaffUser) -> ColumnElement[bool] | None:
    """A WHERE clause on Customer limiting it to what `staff` may see (None: everything)."""
    if staff.sees_all_customers:
        return None
    return exists().where(
        customer_assignments.c.customer_id == Customer.id,
        customer_assignments.c.staff_user_id == staff.id,
    )


def visible(stmt, staff: StaffUser):
    clause = customer_visibility(staff)
    return stmt if clause is None else stmt.where(clause)


# Statements that name a customer are built once, in two variants: for staff who see every
# customer, and limited to the customers assigned to the staff member bound as :staff_id.
_ASSIGNED = exists().where(
    customer_assignments.c.customer_id == Customer.id,
    customer_assignments.c.staff_user_id == bindparam("staff_id"),
)


def both_variants(stmt) -> tuple:
    """(`stmt`, `stmt` limited to the customers assigned to :staff_id), for `scoped`."""
    return stmt, stmt.where(_ASSIGNED)


def scoped(variants: tuple, staff: StaffUser | None, params: dict) -> tuple:
    """The variant `staff` may run, with its parameters; staff None: the caller has already
    proven access some other way (the portal's session)."""
    if staff is None or staff.sees_all_customers:
        return variants[0], params
    return variants[1], {**params, "staff_id": staff.id}


# The customer page's first query, on every tab.
_CUSTOMER = both_variants(select(Customer).where(Customer.id == bindparam("customer_id")))


def get_customer(staff: StaffUser, customer_id: int) -> Customer:
    customer = db.session.scalar(*scoped(_CUSTOMER, staff, {"customer_id": customer_id}))
    if customer is None:
        raise NotFound()
    return customer
