"""customer sort key, invoice list index, trigram search index

Revision ID: fe0c5a4e6651
Revises: 0dbacfe78c01
Create Date: 2026-11-23 05:32:16.274791

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'fe0c5a4e6651'
down_revision = '0dbacfe78c01'
branch_labels = None
depends_on = None

# PostgreSQL only (migrations/env.py keeps it out of autogenerate): customer search is
# `lower(col) LIKE '%q%'` over four columns, which a trigram GIN index answers.
SEARCH_INDEX = "ix_customers_search_trgm"


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sort_key', sa.String(length=200), nullable=False, server_default=''))
        batch_op.drop_index(batch_op.f('ix_customers_name'))
        batch_op.create_index('ix_customers_sort_key', ['sort_key', 'id'], unique=False)
    op.execute("UPDATE customers SET sort_key = lower(coalesce(company_name, name))")
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.alter_column('sort_key', server_default=None)

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index('ix_documents_kind_issue', ['kind', 'issue_date', 'id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"CREATE INDEX {SEARCH_INDEX} ON customers USING gin ("
            "lower(name) gin_trgm_ops, lower(company_name) gin_trgm_ops, "
            "lower(number) gin_trgm_ops, lower(email) gin_trgm_ops)"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_kind_issue')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_sort_key')
        batch_op.create_index(batch_op.f('ix_customers_name'), ['name'], unique=False)
        batch_op.drop_column('sort_key')
