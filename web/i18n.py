"""Which language a page is in: the staff member's choice, else the browser's."""

from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands", "de": "Deutsch"}


def select_locale() -> str:
    if not has_request_context():  # CLI and workers: the default until told otherwise
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and getattr(current_user, "language", None):
        return current_user.language
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"


AUDIT_LABELS = {
    "customer.created": _l("Customer created"),
    "customer.updated": _l("Customer updated"),
    "customer.archived": _l("Customer archived"),
    "customer.restored": _l("Customer restored"),
    "note.added": _l("Note added"),
    "invoice.created": _l("Invoice created"),
}


def audit_label(action: str) -> str:
    return AUDIT_LABELS.get(action, action)


STATUS_LABELS = {
    "open": _l("open"),
    "partially_paid": _l("partially paid"),
    "paid": _l("paid"),
    "overdue": _l("overdue"),
    "cancelled": _l("cancelled"),
    "pending": _l("pending"),
    "accepted": _l("accepted"),
    "rejected": _l("rejected"),
    "expired": _l("expired"),
    "issued": _l("issued"),
}


def status_label(status) -> str:
    key = getattr(status, "value", status)
    return STATUS_LABELS.get(key, key)
