"""Which customers a staff user may see. Every admin lookup of a customer goes through here.

An employee sees the customers assigned to them unless they have "view all customers";
anything else is reported as not found, so IDs in URLs prove nothing.
"""

from __future__ import annotations

from sqlalchemy import exists, select
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


def get_customer(staff: StaffUser, customer_id: int) -> Customer:
    customer = db.session.scalar(visible(select(Customer).where(Customer.id == customer_id), staff))
    if customer is None:
        raise NotFound()
    return customer
