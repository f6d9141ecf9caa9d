"""customer buyer reference and e-invoice format

E-invoices (#19): the buyer reference an e-invoice carries (BT-10; for German public
authorities their Leitweg-ID, which XRechnung requires) and which e-invoice a customer's
invoice e-mails attach (none, Factur-X PDF or XRechnung UBL). Existing customers get none.

Revision ID: 3c1d2e4f5a6b
Revises: bb7bbebcae2b
Create Date: 2026-12-04 19:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c1d2e4f5a6b'
down_revision = 'bb7bbebcae2b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buyer_reference', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('einvoice_format', sa.String(length=20), server_default='none', nullable=False))


def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('einvoice_format')
        batch_op.drop_column('buyer_reference')
