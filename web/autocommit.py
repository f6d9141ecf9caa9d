"""Pages that only read run their statements in autocommit (models.db.autocommit_reads).

The switch must come before the request's first statement, and the logged-in user is
loaded before the view runs, so views are marked with `@reads` and a before_request hook,
registered ahead of the blueprints' own, makes the switch for GET requests to them.
"""

from __future__ import annotations

from flask import Flask, current_app, request

from models.db import autocommit_reads


def reads(view):
    """Mark a GET view whose statements are reads (a bookkeeping write commits on its own)."""
    view.reads_in_autocommit = True
    return view


def _switch() -> None:
    if request.method in ("GET", "HEAD") and request.endpoint:
        view = current_app.view_functions.get(request.endpoint)
        if getattr(view, "reads_in_autocommit", False):
            autocommit_reads()


def init_app(app: Flask) -> None:
    app.before_request(_switch)
