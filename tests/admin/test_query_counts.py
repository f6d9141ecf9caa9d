"""The busy pages cost the same number of SQL statements with 10 or 1,000 rows of data.

The counts are pinned: a new N+1 (or any extra query) on these pages fails here, with the
page named in the diff. Each staff request also loads the logged-in staff member (1 statement).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from models.audit import AuditEvent
from models.customers import Customer
from models.db import db, now_utc
from models.documents import UNPAID_STATUSES, Document
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.portal_access import PortalAccess, PortalUser
from models.services import demo, dossier
from tests import factories
from tests.conftest import count_queries, soup_of

# Measured on SQLite and PostgreSQL alike; see the docstring of each page below.
PINNED = {
    # staff member, count, page of customers, their tags (selectin), tags for the filter,
    # unread synced e-mail of the page's customers (issue 21)
    "customer list": 6,
    "customer search": 6,
    # staff member, customer, open invoices, 5 latest notes joined with their authors, 5 latest e-mails,
    # portal logins joined with their users ("Login activity"), unanswered questions, the latest
    # instalment plans joined with their instalments, the customer's credit per currency, the
    # latest reminder events (automatic reminders, letters, hold)
    "customer overview": 10,
    # staff member, customer, dossier link (it exists after the seed's first view), history,
    # portal logins joined with their users, contact persons, field definitions, field values,
    # tags, assigned staff
    "customer info": 10,
    # staff member, customer, latest 200 e-mails, latest 10 webhook deliveries about the customer,
    # synced conversations (issue 21; with synced mail also the outbox mail of their threads and
    # attachment names: tests/mail_sync)
    "customer e-mails": 5,
    # staff member, the Attention counts, count, page of documents joined with their customers
    "document list": 4,
}
# No staff member: the link with its customer, the settings and the id of a running
# instalment plan; open invoices with the paid history (a running plan adds itself and its
# instalments). (last_opened_at is written at most once a minute; the measured request
# follows one that wrote it.)
PINNED_DOSSIER = 2


def _seed(app, size: int) -> int:
    with app.app_context():
        demo.seed(customers=size, invoices=size, showcase=False)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Customer)) == size
        assert db.session.scalar(select(func.count()).select_from(Document)) == size
        # the first customer has notes and an invoice in every data set
        customer_id = db.session.scalar(select(func.min(Customer.id)))
        _seed_emails(customer_id, size)
        _seed_history(customer_id, size)
        return customer_id


def _seed_emails(customer_id: int, count: int) -> None:
    """`count` outbox rows of one customer, in every status, bulk inserted."""
    statuses = list(MailStatus)
    start = now_utc() - timedelta(days=count)
    factories.write_directly(insert(OutboundEmail.__table__), [
        {
            "customer_id": customer_id, "category": MailCategory.invoice, "template": "invoice_issued",
            "status": statuses[n % len(statuses)], "attempts": 1, "context": {},
            "subject": f"Invoice {n}" if n % 2 else None,
            "last_error": "550 mailbox unavailable" if statuses[n % len(statuses)] == MailStatus.failed else None,
            "recipients_to": ["to@example.test"], "recipients_cc": ["cc@example.test"], "refused": {},
            "created_at": start + timedelta(days=n),
        }
        for n in range(count)
    ])
    db.session.commit()


def _seed_history(customer_id: int, count: int) -> None:
    """`count` audit events of one customer (the Info tab shows the latest 20)."""
    start = now_utc() - timedelta(days=count)
    factories.write_directly(insert(AuditEvent.__table__), [
        {
            "actor_label": "Olga Owner <owner@example.test>", "action": "customer.updated",
            "entity_type": "customer", "entity_id": customer_id, "customer_id": customer_id,
            "changes": {"name": [f"Old {n}", f"New {n}"]}, "at": start + timedelta(days=n),
        }
        for n in range(count)
    ])
    db.session.commit()


def _count(app, client, path: str) -> int:
    """Statements of one request."""
    client.get(path)  # warm up: anything done once per process (or once per record) is not the page's cost
    with count_queries(app) as statements:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(statements)


def _measure(app, client, customer_id: int) -> dict[str, int]:
    pages = {
        "customer list": "/admin/customers",
        "customer search": "/admin/customers?q=c0000",
        "customer overview": f"/admin/customers/{customer_id}",
        "customer info": f"/admin/customers/{customer_id}/info",
        "customer e-mails": f"/admin/customers/{customer_id}/emails",
        "document list": "/admin/documents",
    }
    return {name: _count(app, client, path) for name, path in pages.items()}


@pytest.mark.parametrize("size", [10, 1000])
def test_query_counts_do_not_grow_with_the_data(app, owner_client, size):
    customer_id = _seed(app, size)
    listed = owner_client.soup("/admin/customers").find("table").tbody.find_all("tr")
    assert len(listed) == min(size, 25)  # the page really shows the data it is measured with
    assert owner_client.soup("/admin/customers?q=c0000").find("table") is not None
    overview = owner_client.soup(f"/admin/customers/{customer_id}")
    assert len(overview.find(id="latest-emails").parent.find("tbody").find_all("tr")) == 5
    info = owner_client.soup(f"/admin/customers/{customer_id}/info")
    assert len(info.find(id="history-h").parent.find("tbody").find_all("tr")) == min(size, 20)
    log = owner_client.soup(f"/admin/customers/{customer_id}/emails")
    assert len(log.find("tbody").find_all("tr")) == min(size, 200)
    assert _measure(app, owner_client, customer_id) == PINNED


@pytest.mark.parametrize("size", [10, 1000])
def test_dossier_page_query_count_does_not_grow_with_the_invoices(app, client, size):
    with app.app_context():
        demo.seed(customers=10, invoices=size, showcase=False)
        db.session.commit()
        # the customer with the most open invoices: about 50 of 1,000, or 1 of 10
        customer_id, unpaid = db.session.execute(
            select(Document.customer_id, func.count())
            .where(Document.status.in_(UNPAID_STATUSES))
            .group_by(Document.customer_id)
            .order_by(func.count().desc(), Document.customer_id)
            .limit(1)
        ).one()
        token = dossier.current_token(customer_id)
        db.session.commit()
    path = f"/d/{token}"
    rows = soup_of(client.get(path)).find("tbody").find_all("tr")
    assert len(rows) == unpaid >= max(1, size // 50)  # the page really lists the open invoices it is measured with
    assert _count(app, client, path) == PINNED_DOSSIER


def _seed_portal_logins(customer_id: int, count: int) -> None:
    """`count` logins of one customer, in every status (invited, active with a last login,
    revoked, not invited), bulk inserted."""
    now = now_utc()
    factories.write_directly(insert(PortalUser.__table__), [
        {"email": f"login{n:03d}@example.com", "session_epoch": 1, "created_at": now,
         "password_hash": "x" if n % 4 == 1 else None}
        for n in range(count)
    ])
    users = dict(db.session.execute(
        select(PortalUser.email, PortalUser.id).where(PortalUser.email.like("login%@example.com"))
    ).all())
    factories.write_directly(insert(PortalAccess.__table__), [
        {
            "portal_user_id": users[f"login{n:03d}@example.com"], "customer_id": customer_id,
            "invited_at": None if n % 4 == 3 else now - timedelta(days=n),
            "invite_expires_at": None if n % 4 == 3 else now + timedelta(days=7),
            "accepted_at": now - timedelta(days=n) if n % 4 == 1 else None,
            "last_login_at": now - timedelta(hours=n) if n % 4 == 1 else None,
            "revoked_at": now if n % 4 == 2 else None,
            "notify": True, "notify_invoice": n % 2 == 0, "notify_account": True, "created_at": now,
        }
        for n in range(count)
    ])
    db.session.commit()


@pytest.mark.parametrize("logins", [1, 25])
def test_portal_logins_do_not_add_queries(app, owner_client, logins):
    """The Info tab's "Portal logins" table and the Overview's "Login activity" cost one
    statement each, however many logins the customer has."""
    with app.app_context():
        demo.seed(customers=10, invoices=10)
        db.session.commit()
        # the demo's logins belong to its first three customers: take the last one
        customer_id = db.session.scalar(select(func.max(Customer.id)))
        _seed_portal_logins(customer_id, logins)
    info = owner_client.soup(f"/admin/customers/{customer_id}/info")
    rows = info.find(id="portal-logins-h").find_parent("section").find("table").tbody.find_all("tr")
    assert len(rows) == logins  # the page really shows the logins it is measured with
    overview = owner_client.soup(f"/admin/customers/{customer_id}")
    assert len(overview.find(id="login-activity").parent.find_all("span", class_="badge")) == logins
    measured = {
        "customer overview": _count(app, owner_client, f"/admin/customers/{customer_id}"),
        "customer info": _count(app, owner_client, f"/admin/customers/{customer_id}/info"),
    }
    assert measured == {"customer overview": PINNED["customer overview"], "customer info": PINNED["customer info"]}
