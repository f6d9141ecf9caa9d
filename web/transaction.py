"""The one piece of glue between a view and a domain change: call it, commit, or refuse.

Every state-changing view does the same thing: call one service function, commit the
request's transaction if it succeeded; if it raised a DomainError, roll everything back
and show the message next to the field it concerns (or as a flash message when there is
no form). The services only flush; this is where the request's single commit happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import flash
from flask_wtf import FlaskForm

from models.db import db
from models.services.errors import DomainError


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the change returned, or the error that refused it; true when it was committed."""

    value: Any = None
    error: DomainError | None = None

    def __bool__(self) -> bool:
        return self.error is None


def attach_error(form: FlaskForm, error: DomainError) -> None:
    """Show a domain error next to the field it concerns (or above the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def commit_change(change: Callable[[], Any], form: FlaskForm | None = None, *, flash_error: bool = False) -> Outcome:
    """Run `change()` and commit; on a DomainError roll back and show it at `form`'s field,
    or flash it (`flash_error`), or leave it to the caller (`outcome.error`)."""
    try:
        value = change()
    except DomainError as error:
        db.session.rollback()
        if form is not None:
            attach_error(form, error)
        elif flash_error:
            flash(str(error.message), "error")
        return Outcome(error=error)
    db.session.commit()
    return Outcome(value)
