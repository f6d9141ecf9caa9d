"""Error pages that say what happened in the user's language; never a bare 500 trace."""

from __future__ import annotations

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

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
}


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


def register(app) -> None:
    app.before_request(refuse_impossible_ids)
    for status in (400, 403, 404, 405, 413, 429):
        app.register_error_handler(status, lambda e, s=status: error_page(s))

    @app.errorhandler(NotFound)
    def not_found(_e):
        return error_page(404)

    @app.errorhandler(CSRFError)
    def csrf_error(_e):
        return error_page(400, _("Your form expired or was sent from elsewhere. Reload the page and try again."))

    @app.errorhandler(500)
    def server_error(_e):
        db.session.rollback()
        return error_page(500)
