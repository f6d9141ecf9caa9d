"""Bank statements (#19): imported CAMT.053 files and their incoming transfers

One row per imported file (unique SHA-256) and one per transfer (unique dedupe key: the
bank's reference, else a hash), so a statement imported twice books nothing twice; a
transfer links the invoice and the payment it was booked as, or waits for staff.

Revision ID: bb7bbebcae2b
Revises: 5a0d2c953327
Create Date: 2026-12-04 20:01:36.092232

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'bb7bbebcae2b'
down_revision = '5a0d2c953327'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bank_statements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=True),
    sa.Column('statement_ref', sa.String(length=100), nullable=True),
    sa.Column('account_iban', sa.String(length=34), nullable=True),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('imported_by_id', sa.Integer(), nullable=True),
    sa.Column('duplicate_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['imported_by_id'], ['staff_users.id'], name=op.f('fk_bank_statements_imported_by_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_statements')),
    sa.UniqueConstraint('file_sha256', name=op.f('uq_bank_statements_file_sha256'))
    )
    op.create_table('bank_statement_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=64), nullable=False),
    sa.Column('booking_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('debtor_name', sa.String(length=140), nullable=True),
    sa.Column('debtor_iban', sa.String(length=34), nullable=True),
    sa.Column('reference', sa.String(length=35), nullable=True),
    sa.Column('remittance', sa.Text(), nullable=True),
    sa.Column('bank_ref', sa.String(length=100), nullable=True),
    sa.Column('status', sa.Enum('matched', 'assigned', 'unmatched', name='entrystatus', native_enum=False, length=20), nullable=False),
    sa.Column('matched_by', sa.String(length=10), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_bank_statement_entries_document_id_documents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_bank_statement_entries_payment_id_payments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['statement_id'], ['bank_statements.id'], name=op.f('fk_bank_statement_entries_statement_id_bank_statements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_statement_entries')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_bank_statement_entries_dedupe_key'))
    )
    with op.batch_alter_table('bank_statement_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_statement_entries_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_statement_entries_statement_id'), ['statement_id'], unique=False)
        batch_op.create_index('ix_bank_statement_entries_status', ['status'], unique=False)



def downgrade():
    with op.batch_alter_table('bank_statement_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_bank_statement_entries_status')
        batch_op.drop_index(batch_op.f('ix_bank_statement_entries_statement_id'))
        batch_op.drop_index(batch_op.f('ix_bank_statement_entries_document_id'))

    op.drop_table('bank_statement_entries')
    op.drop_table('bank_statements')
