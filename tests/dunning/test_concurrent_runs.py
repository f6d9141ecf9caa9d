"""Two reminder runs at the same time (two workers, or a worker and the CLI) send each
reminder once: the second waits for the first's claims and then finds them taken."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import func, select

from mailers import dunning as runner
from models.db import db
from models.documents import Document, DocumentKind, ReminderItem
from models.dunning import DunningNotice
from models.outbox import OutboundEmail
from tests import factories
from tests.dunning.helpers import TODAY, overdue, schedule

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:")),
    reason="needs PostgreSQL (set TEST_DATABASE_URL=postgresql://...): SQLite serialises all writers",
)

CUSTOMERS = 60
RUNS = 4


def test_runs_at_once_send_each_reminder_once(app):
    schedule(app)
    for n in range(CUSTOMERS):
        customer = factories.customer(email=None if n % 4 == 0 else f"race{n}@example.test")
        overdue(customer, 10)
        overdue(customer, 12 + n % 3)
    start = threading.Barrier(RUNS)
    results: list = [None] * RUNS
    errors: list = []

    def go(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                results[n] = runner.run(TODAY, batch_size=7)  # many small batches interleave
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=go, args=(n,)) for n in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(len(r.reminders) for r in results) == CUSTOMERS  # between them, each once
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)
                                 .where(Document.kind == DocumentKind.reminder)) == CUSTOMERS
        assert db.session.scalar(select(func.count()).select_from(ReminderItem)) == 2 * CUSTOMERS
        assert db.session.scalar(select(func.count()).select_from(DunningNotice)) == 2 * CUSTOMERS
        assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == CUSTOMERS - CUSTOMERS // 4
        # every reminder document lists both invoices of its customer (no split between runs)
        per_reminder = db.session.execute(select(ReminderItem.reminder_id, func.count())
                                          .group_by(ReminderItem.reminder_id)).all()
        assert {count for _id, count in per_reminder} == {2}
