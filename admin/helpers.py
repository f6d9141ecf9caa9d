"""Small request helpers shared by the admin views."""

from __future__ import annotations

from flask import request

MAX_PAGE = 99_999


def page_arg() -> int:
    """`?page=`: a page from 1 to MAX_PAGE; anything else ("²", 5,000 digits, -1) is page 1."""
    value = request.args.get("page", "1")
    if len(value) > len(str(MAX_PAGE)) or not (value.isascii() and value.isdigit()):
        return 1
    return int(value) or 1
