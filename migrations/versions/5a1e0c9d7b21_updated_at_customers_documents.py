"""updated_at on customers and documents

When a customer or a document last changed: the REST API lists them `updated_since` a
moment, so the accounting package reads only what changed. Existing rows start at their
creation time.

Revision ID: 5a1e0c9d7b21
Revises: 28fb2e7307d9
Create Date: 2026-12-04 19:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '5a1e0c9d7b21'
down_revision = '28fb2e7307d9'
branch_labels = None
depends_on = None


def upgrade():
    for table in ("customers", "documents"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        op.execute(f"UPDATE {table} SET updated_at = created_at")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_updated_at'), ['updated_at'], unique=False)


def downgrade():
    for table in ("documents", "customers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_updated_at'))
            batch_op.drop_column('updated_at')
