"""Two imports of one statement at the same moment, and two staff members assigning one
transfer at once, book every transfer once (PostgreSQL: SQLite serialises all writers)."""

from __future__ import annotations

import os
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import clock
from models.bank_statements import BankStatement, BankStatementEntry, EntryStatus
from models.db import db
from models.payments import Payment
from models.services import bank_statements
from models.services.errors import DomainError
from models.staff import StaffUser
from tests.bank.test_bank_statements import FIXTURE, invoices, state, upload  # noqa: F401 (fixture)
from tests.concurrency import race, serve, staff_session

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql:", "postgresql+", "postgres:")),
    reason="needs PostgreSQL (set TEST_DATABASE_URL=postgresql://...): SQLite serialises all writers",
)


def _import_at_once(app, owner, files: list[bytes]) -> list[str]:
    start = threading.Barrier(len(files))
    outcomes: list[str] = [""] * len(files)

    def run(n: int) -> None:
        with app.app_context():
            actor = db.session.get(StaffUser, owner.id)
            start.wait()
            try:
                bank_statements.import_statement(actor, files[n], f"s{n}.xml", clock.today())
                db.session.commit()
                outcomes[n] = "imported"
            except DomainError as error:
                db.session.rollback()
                outcomes[n] = type(error).__name__
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(files))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@pytest.mark.parametrize("same_file", [True, False], ids=["same-file", "same-transfers-other-file"])
def test_two_imports_at_once_book_each_transfer_once(app, owner, invoices, same_file):  # noqa: F811
    other = FIXTURE if same_file else FIXTURE.replace(b"<Id>STMT-2026-12-01</Id>", b"<Id>STMT-OTHER</Id>")
    outcomes = _import_at_once(app, owner, [FIXTURE, other])
    assert sorted(outcomes) == ["AlreadyImported", "imported"], outcomes
    now = state(app)
    assert now["statements"] == 1 and now["entries"] == 5
    assert sorted(amount for amount, *_ in now["payments"]) == [Decimal("40.00"), Decimal("121.00"), Decimal("250.00")]


def test_two_staff_assigning_one_transfer_book_it_once(app, owner, owner_client, invoices):  # noqa: F811
    upload(owner_client, FIXTURE)
    with app.app_context():
        entry_id = db.session.scalar(select(BankStatementEntry.id).where(
            BankStatementEntry.amount == Decimal("77.77")))
        payments = db.session.scalar(select(func.count()).select_from(Payment))
    sessions = [staff_session(app, n, role="admin") for n in range(4)]
    with serve(app) as port:
        results = race(port, [("/admin/bank-statements/assign",
                               {"entry_id": str(entry_id), f"e{entry_id}-invoice_number": "INV-1004"}, session)
                              for session in sessions])
    assert sorted(status for status, _, _ in results) == [302, 422, 422, 422], [r[:2] for r in results]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Payment)) == payments + 1
        assert db.session.get(BankStatementEntry, entry_id).status == EntryStatus.assigned
        assert db.session.scalar(select(func.count()).select_from(BankStatement)) == 1
