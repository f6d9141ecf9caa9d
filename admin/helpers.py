"""Small request helpers shared by the admin views."""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from web.extensions import limiter

MAX_PAGE = 99_999


def page_arg() -> int:
    """`?page=`: a page from 1 to MAX_PAGE; anything else ("²", 5,000 digits, -1) is page 1."""
    value = request.args.get("page", "1")
    if len(value) > len(str(MAX_PAGE)) or not (value.isascii() and value.isdigit()):
        return 1
    return int(value) or 1


def pdf_rate_limit(name: str):
    """The limit on one kind of PDF (LETTER_PDF_LIMIT; a WeasyPrint rendering each time),
    counted per staff member under `<name>-pdf`: colleagues behind one office address each
    have their own."""

    def key() -> str:
        if current_user.is_authenticated:
            return f"{name}-pdf:staff:{current_user.get_id()}"
        return f"{name}-pdf:ip:{request.remote_addr}"

    return limiter.limit(lambda: current_app.config["LETTER_PDF_LIMIT"], key_func=key)
