"""document mail texts

The opening text of each document kind's e-mail, with placeholders for the customer's
name, the document's number and URL and the dossier URL (empty: the standard sentence).

Revision ID: 5d2e8a1f4c07
Revises: 1cf1dcff014b
Create Date: 2026-12-04 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d2e8a1f4c07'
down_revision = '1cf1dcff014b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('business_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_mail_texts', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('business_settings', schema=None) as batch_op:
        batch_op.drop_column('document_mail_texts')
