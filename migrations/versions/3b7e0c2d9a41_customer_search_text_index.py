"""customer search: one trigram index over the whole search text

The search used to OR four LIKEs, one per column, over a four-column trigram index;
PostgreSQL read every customer instead (about 10 ms per search and again for the count
at 10,000 customers). One expression, models.customers.search_text, and one index on
exactly that expression make it an index scan (under 1 ms).

Revision ID: 3b7e0c2d9a41
Revises: a1c0d7e5b9f2
Create Date: 2026-12-04 14:20:00

"""
from alembic import op


revision = '3b7e0c2d9a41'
down_revision = 'a1c0d7e5b9f2'
branch_labels = None
depends_on = None

# The same expression as models.customers.search_text (PostgreSQL only: SQLite has no
# trigram index and reads its few thousand rows fast enough).
SEARCH_TEXT = ("lower(coalesce(name, '') || ' ' || coalesce(company_name, '') || ' ' || number"
               " || ' ' || coalesce(email, ''))")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_customers_search_trgm")
        op.execute(f"CREATE INDEX ix_customers_search_text_trgm ON customers USING gin (({SEARCH_TEXT}) gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_customers_search_text_trgm")
        op.execute(
            "CREATE INDEX ix_customers_search_trgm ON customers USING gin ("
            "lower(name) gin_trgm_ops, lower(company_name) gin_trgm_ops, "
            "lower(number) gin_trgm_ops, lower(email) gin_trgm_ops)"
        )
