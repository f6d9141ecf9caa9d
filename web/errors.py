"""Error pages that say what happened in the user's language; never a bare 500 trace."""

from __future__ import annotations

import logging

from flask import abort, current_app, g, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError

from models.db import db
from models.services.errors import NotFound

MESSAGES = {
    400: lambda: _("The request could not be understood."),
    403: lambda: _("You do not have access to this page."),
    404: lambda: _("This page does not exist, or you do not have access to it."),
    405: lambda: _("This action is not available here."),
    413: lambda: _("The upload is too large."),
    429: lambda: _("Too many attempts. Please wait a minute and try again."),
    500: lambda: _("Something went wrong on our side. Please try again."),
    503: lambda: _("The service is temporarily unavailable. Please try again in a moment."),
}

log = logging.getLogger(__name__)


# Ids are INTEGER columns: PostgreSQL refuses a larger parameter, SQLite overflows above 2**63.
MAX_ID = 2**31 - 1
_ID_DIGITS = len(str(MAX_ID))


def parse_id(value: str | None) -> int | None:
    """An id sent in a form or query string, or None when it cannot be one.

    Only ASCII digits: `"²".isdigit()` is True yet int("²") fails, int("٣") is 3, and
    int() of more than 4,300 digits raises. Nothing above MAX_ID reaches the database.
    """
    if not value or len(value) > _ID_DIGITS or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def refuse_impossible_ids() -> None:
    """An id in a URL beyond any stored id is simply not found (not a database error, a 500)."""
    if any(isinstance(v, int) and v > MAX_ID for v in (request.view_args or {}).values()):
        abort(404)


def error_page(status: int, message: str | None = None):
    """The error page with its status; a view may give its own message."""
    return render_template("error.html", status=status, message=message or MESSAGES[status](), error_page=True), status


def unavailable_page():
    """The 503 page, made without the database: in the browser's language (unless the page
    had chosen the customer's already), and rendered without Flask's context processors,
    since Flask-Login's loads the logged-in user (web.i18n would too, for the language)."""
    if not g.get("customer_language"):
        g.customer_language = request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"
    page = current_app.jinja_env.get_template("error.html")
    return page.render(status=503, message=MESSAGES[503](), error_page=True), 503


def database_unreachable(error: DBAPIError) -> bool:
    """The database went away (restarted, down, refusing connections), as opposed to a
    statement that failed: SQLAlchemy saw the connection drop, the server is shutting down
    or starting up (SQLSTATE 08xxx, 57P01-57P03), or psycopg could not connect at all (an
    OperationalError without an SQLSTATE)."""
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", "")  # psycopg's; SQLite errors have none
    if sqlstate is None:
        return isinstance(error, OperationalError)
    return sqlstate.startswith("08") or sqlstate in {"57P01", "57P02", "57P03"}


def register(app) -> None:
    app.before_request(refuse_impossible_ids)
    for status in (400, 403, 404, 405, 413):
        app.register_error_handler(status, lambda e, s=status: error_page(s))

    @app.errorhandler(429)
    def too_many(error):
        """A limit with its own message says it (the dossier check's lasts longer than a minute)."""
        limit = getattr(error, "limit", None)  # Flask-Limiter's RateLimitExceeded
        return error_page(429, error.description if limit is not None and limit.error_message else None)

    @app.errorhandler(NotFound)
    def not_found(_e):
        return error_page(404)

    @app.errorhandler(CSRFError)
    def csrf_error(_e):
        return error_page(400, _("Your form expired or was sent from elsewhere. Reload the page and try again."))

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError):
        """A few seconds without the database (a restart, a failover) answer 503, not 500;
        the pool pre-pings, so the first request after it is back succeeds."""
        if not database_unreachable(error):
            raise error  # a failing statement is a bug: the 500 page, logged with its trace
        log.warning("database unreachable: %s", str(error.orig).strip() or type(error.orig).__name__)
        try:
            db.session.rollback()
        except DBAPIError:
            db.session.remove()
        return unavailable_page()

    @app.errorhandler(500)
    def server_error(_e):
        db.session.rollback()
        return error_page(500)
