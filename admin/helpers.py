"""Small glue between forms and domain errors, shared by the admin views."""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm

from models.services.errors import DomainError


def attach_error(form: FlaskForm, error: DomainError) -> None:
    """Show a domain error next to the field it concerns (or above the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def page_arg() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1
