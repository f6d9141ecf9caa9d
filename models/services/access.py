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


# Built once: the customer page's first query, on every tab.
_CUSTOMER = select(Customer).where(Customer.id == bindparam("customer_id"))
_ASSIGNED_CUSTOMER = _CUSTOMER.where(
    exists().where(
        customer_assignments.c.customer_id == Customer.id,
        customer_assignments.c.staff_user_id == bindparam("staff_id"),
    )
)


def get_customer(staff: StaffUser, customer_id: int) -> Customer:
    if staff.sees_all_customers:
        customer = db.session.scalar(_CUSTOMER, {"customer_id": customer_id})
    else:
        customer = db.session.scalar(_ASSIGNED_CUSTOMER, {"customer_id": customer_id, "staff_id": staff.id})
    if customer is None:
        raise NotFound()
    return customer
