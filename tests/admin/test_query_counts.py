"""The busy pages cost the same number of SQL statements with 10 or 1,000 customers and invoices.

The counts are pinned: a new N+1 (or any extra query) on these pages fails here, with the
page named in the diff. Each request also loads the logged-in staff member (1 statement).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models.customers import Customer
from models.db import db
from models.documents import Document
from models.services import demo
from tests.conftest import count_queries

# Measured on SQLite and PostgreSQL alike; see the docstring of each page below.
PINNED = {
    # staff member, count, page of customers, their tags (selectin), tags for the filter
    "customer list": 5,
    "customer search": 5,
    # staff member, customer, open invoices, 5 latest notes joined with their authors
    "customer overview": 4,
    # staff member, customer, history, field definitions, field values, tags, assigned staff
    "customer info": 7,
    # staff member, count, page of invoices joined with their customers
    "invoice list": 3,
}


def _seed(app, size: int) -> int:
    with app.app_context():
        demo.seed(customers=size, invoices=size)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Customer)) == size
        assert db.session.scalar(select(func.count()).select_from(Document)) == size
        # the first customer has notes and an invoice in every data set
        return db.session.scalar(select(func.min(Customer.id)))


def _measure(app, client, customer_id: int) -> dict[str, int]:
    pages = {
        "customer list": "/admin/customers",
        "customer search": "/admin/customers?q=c0000",
        "customer overview": f"/admin/customers/{customer_id}",
        "customer info": f"/admin/customers/{customer_id}/info",
        "invoice list": "/admin/invoices",
    }
    counts = {}
    for name, path in pages.items():
        client.get(path)  # warm up: anything done once per process is not the page's cost
        with count_queries(app) as statements:
            response = client.get(path)
        assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(statements)
    return counts


@pytest.mark.parametrize("size", [10, 1000])
def test_query_counts_do_not_grow_with_the_data(app, owner_client, size):
    customer_id = _seed(app, size)
    listed = owner_client.soup("/admin/customers").find("table").tbody.find_all("tr")
    assert len(listed) == min(size, 25)  # the page really shows the data it is measured with
    assert owner_client.soup("/admin/customers?q=c0000").find("table") is not None
    assert _measure(app, owner_client, customer_id) == PINNED
