"""master data self service

Customers change their own contact details, address, bank and tax details (issue 17):
which groups they may change (settings, all on), the changes staff have not confirmed yet
(the Attention filter, the bank warning), and one-time codes and e-mail confirmation links
(only an HMAC of the secret is kept).

Revision ID: af526bd5ce31
Revises: 5d2e8a1f4c07
Create Date: 2026-12-04 17:08:16.490535

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'af526bd5ce31'
down_revision = '5d2e8a1f4c07'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('one_time_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Enum('bank', 'dossier', 'email', name='codepurpose', native_enum=False, length=20), nullable=False),
    sa.Column('sent_to', sa.String(length=254), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_one_time_codes_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_one_time_codes'))
    )
    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.create_index('ix_one_time_codes_customer', ['customer_id', 'purpose', 'created_at'], unique=False)

    with op.batch_alter_table('business_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_edits_contact', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('customer_edits_address', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('customer_edits_bank', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('customer_edits_tax', sa.Boolean(), server_default='1', nullable=False))

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changes_unconfirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('bank_unconfirmed', sa.Boolean(), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_customers_changes_unconfirmed_at'), ['changes_unconfirmed_at'], unique=False)



def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_changes_unconfirmed_at'))
        batch_op.drop_column('bank_unconfirmed')
        batch_op.drop_column('changes_unconfirmed_at')

    with op.batch_alter_table('business_settings', schema=None) as batch_op:
        batch_op.drop_column('customer_edits_tax')
        batch_op.drop_column('customer_edits_bank')
        batch_op.drop_column('customer_edits_address')
        batch_op.drop_column('customer_edits_contact')

    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_one_time_codes_customer')

    op.drop_table('one_time_codes')
