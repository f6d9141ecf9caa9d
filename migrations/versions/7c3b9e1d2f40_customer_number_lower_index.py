"""customers: an index on lower(number)

Customers are matched by number ignoring case (intake: the REST API and the CSV import,
save_customer's clash check). Without this index PostgreSQL reads every customer for each
match; the CSV import's batch query (500 numbers at once) then cost ~0.5 s per batch on
100,000 customers and the 100,000-row import slowed from 1,000 to 480 rows/s as it grew.

Revision ID: 7c3b9e1d2f40
Revises: abb204eac891
Create Date: 2026-12-04 21:12:00

"""
from alembic import op
import sqlalchemy as sa


revision = '7c3b9e1d2f40'
down_revision = 'abb204eac891'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_customers_number_lower', 'customers', [sa.text('lower(number)')], unique=False)


def downgrade():
    op.drop_index('ix_customers_number_lower', table_name='customers')
