"""customer credits from overpayments

A paid payment whose invoices were already settled (two checkouts for one invoice, both
paid) is booked only up to what was outstanding; the rest becomes a credit row here, which
staff see on the customer's Overview, instead of a negative outstanding amount.

Revision ID: 83d59ea7cf80
Revises: 3b7e0c2d9a41
Create Date: 2026-12-04 14:20:54.306972

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '83d59ea7cf80'
down_revision = '3b7e0c2d9a41'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('customer_credits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_credits_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_customer_credits_payment_id_payments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_credits')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_customer_credits_payment_id'))
    )
    with op.batch_alter_table('customer_credits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_credits_customer_id'), ['customer_id'], unique=False)



def downgrade():
    with op.batch_alter_table('customer_credits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_credits_customer_id'))

    op.drop_table('customer_credits')
