"""One view, two answers: the full page, or for an HTMX request only the block that changed."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, current_app, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_fragment_request() -> bool:
    """An HTMX request that swaps part of the page (not boosted, not a history restore)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render(template: str, block: str | None = None, status: int = 200, **context) -> Response:
    if block and is_fragment_request():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    return finish(body, status)


def finish(body: str, status: int) -> Response:
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def external_url(path: str) -> str:
    """An absolute link built from BASE_URL, never from the request's Host header."""
    return current_app.config["BASE_URL"] + path


def is_safe_next(target: str | None) -> bool:
    """Only local paths: no scheme, no host, no protocol-relative `//` or `/\\` tricks."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and "\\" not in target and "\n" not in target
