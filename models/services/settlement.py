"""What is settled on a receivable document, and the status that follows from it.

Money paid (online, recorded by staff, customer credit applied), credit notes and
write-offs all change an invoice the same way: one UPDATE that adds to its column and
derives open / partially paid / paid from the new totals in the same statement. Callers
hold the customer lock (`lock_customer`), so two changes for one customer never both read
the same outstanding amount.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import case, literal, update

from models.customers import Customer
from models.db import db
from models.documents import Document, DocumentStatus

ZERO = Decimal("0.00")
SETTLED = Document.amount_paid + Document.amount_credited + Document.amount_written_off
OUTSTANDING = Document.gross_total - SETTLED
# Only these follow from the amounts; a draft, a cancelled invoice or a quote keep theirs.
_DERIVED = (DocumentStatus.open, DocumentStatus.partially_paid, DocumentStatus.paid)
_STATUS_TYPE = Document.__table__.c.status.type


def lock_customer(customer_id: int) -> None:
    """An UPDATE of the customer row: PostgreSQL holds it as a row lock, SQLite as its write
    lock, until the request commits. Everything that decides how much is still to pay takes
    it first."""
    db.session.execute(
        update(Customer).where(Customer.id == customer_id).values(id=Customer.id, updated_at=Customer.updated_at)
        .execution_options(synchronize_session=False)
    )


def change(document_id: int, *, paid: Decimal = ZERO, credited: Decimal = ZERO, written_off: Decimal = ZERO,
           written_off_on: date | None = None) -> None:
    """Add (or, undoing, subtract) amounts on one document and derive its status."""
    settled_after = SETTLED + paid + credited + written_off
    values = {
        "amount_paid": Document.amount_paid + paid,
        "amount_credited": Document.amount_credited + credited,
        "amount_written_off": Document.amount_written_off + written_off,
        # Right-hand sides see the row as it was: settled_after is the new total.
        "status": case(
            (Document.status.not_in(_DERIVED), Document.status),
            (settled_after >= Document.gross_total, literal(DocumentStatus.paid, _STATUS_TYPE)),
            (settled_after > 0, literal(DocumentStatus.partially_paid, _STATUS_TYPE)),
            else_=literal(DocumentStatus.open, _STATUS_TYPE),
        ),
    }
    if written_off_on is not None:
        values["written_off_on"] = written_off_on
    db.session.execute(
        update(Document).where(Document.id == document_id).values(**values)
        .execution_options(synchronize_session=False)
    )
    loaded = db.session.identity_map.get((Document, (document_id,), None))
    if loaded is not None:  # a loaded document shows the new totals
        db.session.expire(loaded)
