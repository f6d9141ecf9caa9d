"""Questions fixtures: a debtor with invoices, a stranger with their own, no mail queue."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture(autouse=True)
def _no_mail_queue(app, monkeypatch):
    """Outbox rows are written; Redis points at a closed port so nothing is enqueued anywhere."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def debtor(app):
    customer = factories.customer(name="Dora Debtor", language="en", email="dora@example.test")
    return customer, factories.invoice(customer, amount="100.00"), factories.invoice(customer, amount="50.00")


@pytest.fixture
def stranger(app):
    customer = factories.customer(name="Stan Stranger", language="en", email="stan@example.test")
    return customer, factories.invoice(customer, amount="999.00")
