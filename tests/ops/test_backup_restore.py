"""The README's backup and restore procedure, step by step, with PostgreSQL's own tools:
`pg_dump --format=custom` of a database holding the demo business, `pg_restore` into a new
empty database, `flask db upgrade` (nothing to do: the dump is at the head), then gunicorn
on the restored database: /readyz is ready, every table holds what it held, every dossier
link opens, staff log in, and new rows get new ids (the sequences came along).

The dump holds no key: the links open because the restored installation runs with the same
SECRET_KEY (or DOSSIER_LINK_KEYS); with another key the same database opens none of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select, text

from models.customers import Customer, Note
from models.db import db
from models.services import dossier
from tests.conftest import TEST_CONFIG
from tests.ops.conftest import PG_BIN, Browser, create_database, migrated_app, needs_postgres, server_env
from tests.processes import PROJECT_ROOT, Gunicorn
from wsgi import create_app

pytestmark = needs_postgres
FLASK = Path(sys.executable).with_name("flask")
NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there: mail waits in the outbox, pages work


def flask(env: dict, *args: str) -> str:
    done = subprocess.run([str(FLASK), "--app", "wsgi", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        counts = {table.name: db.session.scalar(select(func.count()).select_from(table))
                  for table in db.metadata.sorted_tables}
        counts["alembic_version"] = db.session.scalar(text("SELECT count(*) FROM alembic_version"))
        db.session.rollback()
    return counts


def test_a_restored_database_works_and_every_dossier_link_still_opens(cluster, tmp_path):
    source_url = create_database(cluster, "backup_source")
    source = migrated_app(source_url)
    env = server_env(source_url, NO_REDIS, 1)
    flask(env, "seed-demo", "--customers", "25", "--invoices", "75")
    with source.app_context():  # every customer has a dossier link; one was reissued (the old one revoked)
        customers = db.session.execute(select(Customer.id, Customer.number)).all()
        for customer_id, _ in customers:
            dossier.current_link(customer_id)
        db.session.flush()
        revoked = dossier.token_for(dossier.current_link(customers[0].id))
        dossier.current_link(customers[0].id).revoked_at = db.func.now()
        db.session.flush()
        links = {dossier.token_for(dossier.current_link(cid)): number for cid, number in customers}
        db.session.commit()
    before = row_counts(source)
    assert before["customers"] == 25 and before["documents"] >= 75 and before["dossier_links"] == 26

    # The backup: one file, PostgreSQL's custom format (compressed; pg_restore reads it).
    dump = tmp_path / "dossier.dump"
    subprocess.run([str(PG_BIN / "pg_dump"), "--format=custom", "--no-owner", "--file", str(dump),
                    libpq_url(source_url)], check=True, capture_output=True, timeout=120)
    with source.app_context():
        db.engine.dispose()

    # The restore: into a new, empty database; then the usual upgrade (a no-op at the head).
    restored_url = create_database(cluster, "backup_restored")
    subprocess.run([str(PG_BIN / "pg_restore"), "--no-owner", "--exit-on-error", "--dbname",
                    libpq_url(restored_url), str(dump)], check=True, capture_output=True, timeout=120)
    restored_env = server_env(restored_url, NO_REDIS, 1)
    flask(restored_env, "db", "upgrade")
    restored = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": restored_url})
    assert row_counts(restored) == before

    server = Gunicorn(restored_env, tmp_path / "gunicorn.log")
    try:
        status, body = server.get("/readyz")
        assert status == 200, body
        for token, number in links.items():  # every link printed before the backup
            status, page = server.get(f"/d/{token}")
            assert status == 200 and f"· {number}</p>" in page, (token, status)
        assert server.get(f"/d/{revoked}")[0] == 404  # and a revoked one stays revoked

        browser = Browser().log_in(server.port, "owner@dossier.test", "dossier-demo")
        first = customers[0].id
        status, _, html = browser.get(server.port, f"/admin/customers/{first}")
        assert status == 200 and customers[0].number in html
        status, location, _ = browser.post(server.port, f"/admin/customers/{first}/notes",
                                           {"body": "Written after the restore", "back": "overview"})
        assert status == 302 and location.endswith(f"/admin/customers/{first}"), (status, location)
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]
    with restored.app_context():  # a new id after the restored ones: the sequence came along
        assert db.session.scalar(select(Note.body).order_by(Note.id.desc()).limit(1)) == "Written after the restore"
        db.session.rollback()

    # The dump holds no key: under another SECRET_KEY the restored database opens no link.
    other = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": restored_url,
                        "SECRET_KEY": "another-key-that-is-long-enough-0123456789"})
    client = other.test_client()
    assert {client.get(f"/d/{token}").status_code for token in list(links)[:5]} == {404}
    for app in (restored, other):
        with app.app_context():
            db.engine.dispose()
