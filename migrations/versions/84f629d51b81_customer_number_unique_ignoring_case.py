"""customers: numbers unique ignoring case (the lower(number) index becomes unique)

save_customer and the import already refuse a number that differs from another only in
case; the database now says so too. For the CSV import this is what keeps the batch's
lookup by number an index scan: the planner knows lower(number) matches one customer at
most even when the table has no statistics yet (a table filled by the import itself,
autovacuum not yet run). Without it, psycopg's prepared statement got a generic plan that
read every customer and compared it with each of the batch's 500 numbers: 1.8 s per batch
at 100,000 customers, so the 100,000-row import slowed from 1,000 to 400 rows/s.

A database holding two customers whose numbers differ only in case cannot take the index:
the upgrade stops and names them (rename one, then upgrade again).

Revision ID: 84f629d51b81
Revises: 7c3b9e1d2f40
Create Date: 2026-12-04 23:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '84f629d51b81'
down_revision = '7c3b9e1d2f40'
branch_labels = None
depends_on = None


def upgrade():
    clashes = op.get_bind().execute(sa.text(
        "SELECT lower(number) FROM customers GROUP BY lower(number) HAVING count(*) > 1 ORDER BY 1 LIMIT 20"
    )).scalars().all()
    if clashes:
        raise RuntimeError("Customer numbers that differ only in case: " + ", ".join(clashes)
                           + ". Give one customer of each a number of its own, then upgrade again.")
    op.drop_index('ix_customers_number_lower', table_name='customers')
    op.create_index('ix_customers_number_lower', 'customers', [sa.text('lower(number)')], unique=True)


def downgrade():
    op.drop_index('ix_customers_number_lower', table_name='customers')
    op.create_index('ix_customers_number_lower', 'customers', [sa.text('lower(number)')], unique=False)
