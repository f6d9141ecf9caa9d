"""Rendered pages kept per worker, under a key that changes whenever their data does.

Why: a customer's Overview and the dossier page are read far more often than their data
changes, and rendering them (a few hundred formatted values through Jinja, the layout) is
most of their cost. The key holds the customer's and the business's revision
(models/revisions.py: every write moves one of them in its own transaction), the language,
the day (overdue badges) and whatever else the view says the page depends on, so an entry
is never served after a change: the next request builds a new key, old entries age out.

The session's CSRF token, the one per-visitor value in a page, is cut out before storing
and put back on the way out. A page with flashed messages is rendered, not kept.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import Response, current_app, render_template, session
from flask_wtf.csrf import generate_csrf

from models import revisions
from models.db import db
from web.rendering import finish

# Stands in for the CSRF token in stored HTML: random per process, so no text can forge it.
_TOKEN_HOLE = f"csrf-{secrets.token_hex(16)}"


class PageCache:
    """A small LRU of rendered HTML; a lock because threaded servers share it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            html = self._entries.get(key)
            if html is not None:
                self._entries.move_to_end(key)
            return html

    def put(self, key: Hashable, html: str) -> None:
        with self._lock:
            self._entries[key] = html
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def cache() -> PageCache:
    return current_app.extensions["dossier.page_cache"]


def init_app(app) -> None:
    app.extensions["dossier.page_cache"] = PageCache(app.config["PAGE_CACHE_SIZE"])


def _store() -> PageCache | None:
    """The cache, unless it is off, this response carries flashed messages or the request's
    transaction already changed data (models.revisions.unsettled)."""
    if not current_app.config["PAGE_CACHE_SIZE"] or session.get("_flashes") or revisions.unsettled(db.session):
        return None
    return cache()


def kept(template: str, key: tuple | None, status: int = 200) -> Response | None:
    """The page kept under (template, *key), with this session's CSRF token, or None.
    A key of None means "not to be kept" (a revision it needs does not exist yet)."""
    store = _store() if key is not None else None
    html = store.get((template, *key)) if store is not None else None
    return None if html is None else finish(html.replace(_TOKEN_HOLE, generate_csrf()), status)


def render_page(template: str, key: tuple | None, context: dict, content: Callable[[], dict],
                status: int = 200) -> Response:
    """The page kept under (template, *key), else rendered with `content()` added to
    `context` (only then is its data loaded) and kept."""
    response = kept(template, key, status)
    if response is not None:
        return response
    store = _store() if key is not None else None  # before rendering takes the flashes
    token = generate_csrf()
    html = render_template(template, **{**context, **content()})
    if store is not None:
        store.put((template, *key), html.replace(token, _TOKEN_HOLE))
    return finish(html, status)
