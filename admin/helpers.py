"""Small request helpers shared by the admin views."""

from __future__ import annotations

from flask import request

def page_arg() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1
