"""A rolling deploy, as the README's expand / contract rules describe it: the next release's
expand migration runs while this release's gunicorn keeps serving. Expand adds (a nullable
column, a column with a server default, a table, an index) and never changes or removes what
the running release reads and writes; its revision is one this release has never seen, and
/readyz stays 200 ("ahead of this release"), so the load balancer keeps the old processes
until the new ones are ready. Until the contract step (a later release), the old one works:
pages, writes, mail queued."""

from __future__ import annotations

import psycopg

from tests import factories
from tests.ops.conftest import Browser, create_database, factories_on, migrated_app, needs_postgres, server_env
from tests.processes import Gunicorn

pytestmark = needs_postgres

# What the next release's expand migration does (written as SQL here: this release does not
# ship it), then Alembic's record of it.
EXPAND = [
    "ALTER TABLE notes ADD COLUMN pinned boolean",                                  # nullable
    "ALTER TABLE customers ADD COLUMN segment varchar(20) NOT NULL DEFAULT 'none'",  # with a default
    "CREATE TABLE customer_segments (id serial PRIMARY KEY, name varchar(40) NOT NULL)",
    "CREATE INDEX ix_notes_pinned ON notes (customer_id) WHERE pinned",
    "UPDATE alembic_version SET version_num = 'a1b2c3d4e5f6'",                        # a revision unknown here
]


def test_the_running_release_keeps_working_after_the_next_releases_expand_migration(app, cluster, redis_server,
                                                                                    smtp_sink, tmp_path):
    url = create_database(cluster, "rolling_deploy")
    ops_app = migrated_app(url)
    with factories_on(ops_app, app):
        factories.staff(role="owner", email="olga@example.test", name="Olga Owner")
        customer = factories.customer(name="Acme Trading", email="billing@acme.example", language="en")
    server = Gunicorn(server_env(url, redis_server.url, smtp_sink.port), tmp_path / "gunicorn.log")
    try:
        browser = Browser().log_in(server.port, "olga@example.test")
        assert server.get("/readyz")[0] == 200

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            for statement in EXPAND:
                conn.execute(statement)

        status, body = server.get("/readyz")
        assert status == 200 and '"ahead of this release"' in body, body
        status, location, _ = browser.post(server.port, f"/admin/customers/{customer.id}/notes",
                                           {"body": "Written during the deploy", "back": "overview"})
        assert status == 302, (status, location)
        status, location, _ = browser.post(server.port, "/admin/customers/new", {
            "kind": "company", "company_name": "Bolt Supplies", "name": "Bo Bolt", "email": "bo@bolt.example",
            "country": "NL", "language": "en"})
        assert status == 302 and "/admin/customers/" in location, (status, location)
        status, location, _ = browser.post(server.port, f"/admin/customers/{customer.id}/notice",
                                           {"notice": "shipped", "message": "On its way."})
        assert status == 302 and location.endswith("/emails"), (status, location)
        status, _, html = browser.get(server.port, f"/admin/customers/{customer.id}")
        assert status == 200 and "Written during the deploy" in html
        status, _, html = browser.get(server.port, "/admin/customers?q=Bolt")
        assert status == 200 and "Bolt Supplies" in html
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        assert conn.execute("SELECT segment FROM customers WHERE company_name = 'Bolt Supplies'").fetchone() == ("none",)
    from models.db import db

    with ops_app.app_context():
        db.engine.dispose()
