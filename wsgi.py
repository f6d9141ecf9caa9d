"""The composition root: `create_app()` wires configuration, extensions and blueprints.

gunicorn serves `wsgi:app`; the CLI is `flask --app wsgi …`.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for
from flask_babel import format_decimal, get_locale
from flask_wtf.csrf import generate_csrf
from werkzeug.middleware.proxy_fix import ProxyFix

from mailers import dunning as mail_dunning
from mailers import queue as mail_queue
from mailers import worker as mail_worker
from models import formatting
from models.services import contacts as contact_roles
from web import auth, cli, csv_cli, errors
from web import logs, metrics
from web.config import INSTANCE_DIR, PROJECT_ROOT, check_secret_key, from_environment
from web.extensions import babel, csrf, limiter, login_manager, mail, migrate
from web.i18n import (
    LANGUAGE_NAMES,
    audit_label,
    email_template_label,
    kind_name,
    login_status_label,
    mail_status_label,
    select_locale,
    status_label,
)
from web.security import add_security_headers


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(from_environment(overrides))
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    logs.configure(app)
    check_secret_key(app.config, debug=app.debug)
    INSTANCE_DIR.mkdir(exist_ok=True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("connect_args", {"connect_timeout": 5})

    from models import db
    from models.services import passwords

    passwords.configure(app.config["PASSWORD_HASH_PROFILE"])
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    mail.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.context_processor(formatting.template_translations)
    login_manager.init_app(app)
    login_manager.session_protection = "strong"

    from admin import bp as admin_bp
    from portal import bp as portal_bp
    from web.health import bp as health_bp

    app.register_blueprint(admin_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(health_bp)

    app.before_request(auth.enforce_timeouts)
    app.after_request(add_security_headers)
    errors.register(app)
    # The REST API after the error pages: its problem+json answers wrap theirs for /api/v1.
    import api

    api.register(app)
    metrics.register(app)
    cli.register(app)
    csv_cli.register(app)
    mail_worker.register(app)
    mail_dunning.register(app)
    mail_queue.install_commit_hooks()

    app.jinja_env.globals.update(
        format_currency=formatting.format_currency,
        format_date=formatting.format_date,
        format_datetime=formatting.format_datetime,
        format_decimal=format_decimal,
    )
    # The same formatting as filters, for long lists: a filter is a direct call, where a
    # global function goes through Jinja's Context.call (about 2 µs more per value).
    app.jinja_env.filters.update(money=formatting.format_currency, date=formatting.format_date)

    # Helpers every template may call: globals, not a context processor, so they cost
    # nothing per render and macros imported without context (cached) can use them.
    app.jinja_env.globals.update(
        csrf_token=generate_csrf,
        current_locale=get_locale,
        LANGUAGE_NAMES=LANGUAGE_NAMES,
        audit_label=audit_label,
        status_label=status_label,
        kind_name=kind_name,
        mail_status_label=mail_status_label,
        email_template_label=email_template_label,
        login_status_label=login_status_label,
        role_label=contact_roles.ROLE_LABELS.__getitem__,
        role_description=contact_roles.ROLE_DESCRIPTIONS.__getitem__,
    )

    @app.get("/")
    def index():
        return redirect(url_for("admin.dashboard"))

    return app


def __getattr__(name: str):
    """`wsgi:app` is built on first use, so importing `create_app` (tests) builds nothing."""
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
