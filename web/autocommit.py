"""Pages that only read run their statements in autocommit (models.db.autocommit_reads);
POSTs that often write nothing read in autocommit until they write (models.db.reads_first).

The switch must come before the request's first statement, and the logged-in user is
loaded before the view runs, so views are marked (`@reads` for GET, `@reads_then_writes`
for POST) and a before_request hook, registered ahead of the blueprints' own, makes the
switch for requests to them.
"""

from __future__ import annotations

from flask import Flask, current_app, request

from models.db import autocommit_reads, reads_first


def reads(view):
    """Mark a GET view whose statements are reads (a bookkeeping write commits on its own)."""
    view.reads_in_autocommit = True
    return view


def reads_then_writes(view):
    """Mark a POST view that reads in autocommit until its domain call's begin_writes()."""
    view.reads_first = True
    return view


def _switch() -> None:
    if not request.endpoint:
        return
    view = current_app.view_functions.get(request.endpoint)
    if request.method in ("GET", "HEAD") and getattr(view, "reads_in_autocommit", False):
        autocommit_reads()
    elif request.method == "POST" and getattr(view, "reads_first", False):
        reads_first()


def init_app(app: Flask) -> None:
    app.before_request(_switch)
