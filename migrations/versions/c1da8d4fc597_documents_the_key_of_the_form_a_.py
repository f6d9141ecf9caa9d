"""documents: the key of the form a document was made from

Staff forms that create documents (a new document of any kind, a credit note, a reminder)
carry a random key, new with every form shown; the document made from it keeps the key, so
the same form sent twice (a double click, a reload of the answer) finds that document
instead of making a second one. NULL for documents made otherwise (the API, an import, a
quote converted); the unique index allows NULL any number of times. An expand step only:
the running release's INSERTs leave the column out.

Revision ID: c1da8d4fc597
Revises: 84f629d51b81
Create Date: 2026-12-05 02:46:26.858849

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c1da8d4fc597'
down_revision = '84f629d51b81'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form_key', sa.String(length=40), nullable=True))
    # documents is a big table: on PostgreSQL the index is built without blocking writes
    # (README, "expand"); SQLite ignores the option.
    with op.get_context().autocommit_block():
        op.create_index(op.f('ix_documents_form_key'), 'documents', ['form_key'], unique=True,
                        postgresql_concurrently=True)


def downgrade():
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_form_key'))
        batch_op.drop_column('form_key')
