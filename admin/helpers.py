"""Small glue between forms and domain errors, shared by the admin views."""

from __future__ import annotations

from flask import request

from web.forms import attach_error  # noqa: F401 (the admin views import it from here)


def page_arg() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1
