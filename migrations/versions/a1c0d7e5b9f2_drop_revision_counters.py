"""drop the revision counters of the former page cache

Pages are rendered on every request now; nothing reads these counters, and moving them
made every write lock the customer or business row.

Revision ID: a1c0d7e5b9f2
Revises: fb6bd661bd2b
Create Date: 2026-12-04 14:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a1c0d7e5b9f2'
down_revision = 'fb6bd661bd2b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('revision')
    with op.batch_alter_table('business_settings', schema=None) as batch_op:
        batch_op.drop_column('revision')
    if op.get_bind().dialect.name == "postgresql":
        # The room was for revision updates on every write; those are gone.
        op.execute("ALTER TABLE customers RESET (fillfactor)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE customers SET (fillfactor = 85)")
    with op.batch_alter_table('business_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
