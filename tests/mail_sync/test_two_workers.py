"""Two workers syncing the same mailbox at the same moment store every message once
(PostgreSQL: real concurrent transactions; the unique dedupe key and ON CONFLICT DO NOTHING
decide, not the timing)."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import func, select

from mailers import mail_sync
from models.db import db
from models.mailbox import SyncedEmail, SyncedEmailLink
from tests import factories
from tests.mail_sync.conftest import message

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:")),
        reason="needs PostgreSQL (set TEST_DATABASE_URL=postgresql://...): SQLite serialises all writers",
    ),
]


def test_two_workers_at_once_store_each_message_once(app, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SYNC_BATCH", 4)
    customer = factories.customer(name="Dana Debtor", email="dana@debtor.example")
    for n in range(30):
        mailbox.append(message(sender="dana@debtor.example", message_id=f"<race{n}@debtor.example>").as_bytes())
    start = threading.Barrier(2)
    reports, errors = [], []

    def worker():
        try:
            with app.app_context():
                start.wait(10)
                reports.append(mail_sync.run(force=True))
                db.session.remove()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert [r.outcome for r in reports] == ["synced", "synced"], reports
    assert sum(r.stored for r in reports) == 30
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SyncedEmail)) == 30
        assert db.session.scalar(select(func.count(func.distinct(SyncedEmail.message_id)))) == 30
        assert db.session.scalar(select(func.count()).select_from(SyncedEmailLink)
                                 .where(SyncedEmailLink.customer_id == customer.id)) == 30
