"""App-wide behaviour: configuration, security headers, health, the CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.db import db
from models.staff import StaffUser
from web.config import ConfigError
from wsgi import create_app


def test_refuses_to_start_without_a_secret_key(monkeypatch):
    import web.config

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(web.config, "_instance_secret_key", lambda: "")  # no `make run` key either
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigError):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with pytest.raises(ConfigError):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "change-me"})


@pytest.mark.parametrize("argv,allowed", [
    (["/venv/bin/flask", "--app", "wsgi", "db", "check"], True),
    (["flask", "-A", "wsgi", "--debug", "db", "upgrade"], True),
    (["flask", "--app", "db", "worker"], False),  # an app module named "db" is no db command
    (["flask", "--app", "wsgi", "worker"], False),  # the worker signs dossier links in mails
    (["/venv/bin/gunicorn", "wsgi:app"], False),
])
def test_only_flask_db_runs_without_a_key(argv, allowed):
    from web.config import check_secret_key

    config = {"SECRET_KEY": "change-me"}
    if not allowed:
        with pytest.raises(ConfigError):
            check_secret_key(config, debug=False, argv=argv)
        return
    check_secret_key(config, debug=False, argv=argv)
    assert len(config["SECRET_KEY"]) >= 32 and config["SECRET_KEY"] != "change-me"


def test_flask_db_check_needs_no_key_but_other_commands_do(tmp_path):
    """As an operator runs them on a fresh checkout: the real CLI, a real database file."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    flask = Path(sys.executable).with_name("flask")
    env = {**os.environ, "SECRET_KEY": "change-me", "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}
    env.pop("FLASK_DEBUG", None)

    def run(*args):
        return subprocess.run([str(flask), "--app", "wsgi", *args], cwd=Path(__file__).parents[2], env=env,
                              capture_output=True, text=True, timeout=120)

    assert run("db", "upgrade").returncode == 0
    check = run("db", "check")
    assert check.returncode == 0, check.stderr[-800:]
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    refused = run("outbox", "flush")
    assert refused.returncode != 0 and "SECRET_KEY is missing or insecure" in refused.stderr


def test_uses_the_key_make_run_generated(monkeypatch, tmp_path):
    import web.config

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.setattr(web.config, "INSTANCE_DIR", tmp_path)
    (tmp_path / "secret_key").write_text("k" * 48 + "\n")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SECRET_KEY"] == "k" * 48


def test_starts_with_a_real_key(monkeypatch):
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x" * 40})
    assert app.config["SECRET_KEY"] == "x" * 40


def test_configuration_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.test")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("MAIL_USE_TLS", "true")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("BASE_URL", "https://portal.example.test/")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example.test/dossier")
    app = create_app({"TESTING": True})
    assert app.config["MAIL_SERVER"] == "smtp.example.test"
    assert app.config["MAIL_PORT"] == 2525
    assert app.config["MAIL_USE_TLS"] is True
    assert app.config["REDIS_URL"] == "redis://127.0.0.1:6379/3"
    assert app.config["BASE_URL"] == "https://portal.example.test"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example.test/dossier"


def test_security_headers_on_every_response(client):
    for path in ("/admin/login", "/healthz", "/does-not-exist", "/static/css/app.css"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]


def test_pages_have_no_inline_script(client):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(client.get("/admin/login").data, "html.parser")
    for script in soup.find_all("script"):
        assert script.get("src", "").startswith("/static/"), script
        assert not script.string
    assert not soup.find_all(attrs={"style": True})
    config = soup.find("meta", attrs={"name": "htmx-config"})
    assert '"includeIndicatorStyles": false' in config["content"]


def test_session_cookie_flags(client, owner):
    from tests.conftest import csrf_token

    client.get("/admin/login")
    token = csrf_token(client)
    response = client.post("/admin/login", data={"email": owner.email, "password": "correct horse battery", "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" in cookie  # the test BASE_URL is https


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_healthz_is_503_when_the_database_is_unreachable(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app({
        "TESTING": True,
        # a port nothing listens on: the database is down
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none",
    })
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"


def test_healthz_reports_the_queue_when_redis_is_configured(monkeypatch, app):
    app.config["REDIS_URL"] = "redis://127.0.0.1:6379/15"
    try:
        assert app.test_client().get("/healthz").get_json()["queue"] == "ok"
        app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
        body = app.test_client().get("/healthz")
        assert body.status_code == 200 and body.get_json()["queue"] == "unavailable"
    finally:
        app.config["REDIS_URL"] = ""


def test_create_user_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "--email", "New@Example.test", "--role", "admin"], input="long enough password\nlong enough password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == "new@example.test"))
        assert user.role.value == "admin" and user.password_hash.startswith("$argon2id$")
    short = runner.invoke(args=["create-user", "--email", "b@example.test"], input="short\nshort\n")
    assert short.exit_code != 0 and "at least 12" in short.output


def test_seed_demo_creates_the_documented_logins(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        emails = set(db.session.scalars(select(StaffUser.email)))
    assert {"owner@dossier.test", "admin@dossier.test", "employee@dossier.test"} <= emails
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "not loaded" in again.output


def test_demo_data_fills_the_dossier_attention_filters(app, owner_client):
    """After `make run` a staff member finds an address to adopt and a question to answer."""
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    for attention in ("provided_email", "questions"):
        rows = owner_client.soup(f"/admin/invoices?attention={attention}").find("tbody").find_all("tr")
        assert rows, attention
