"""Which language a page is in: the staff member's choice, else the browser's."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands", "de": "Deutsch"}


def select_locale() -> str:
    if not has_request_context():  # CLI and workers: the default until told otherwise
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if g.get("customer_language"):  # customer-facing pages speak the customer's language
        return g.customer_language
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
    "invoice.sent": _l("Invoice sent"),
    "invoice.reminded": _l("Payment reminder sent"),
    "account_notice.sent": _l("Account notice sent"),
    "email.resent": _l("E-mail queued again"),
    "dossier_link.rotated": _l("New dossier link issued"),
    "portal_login.added": _l("Portal login added"),
    "portal_login.enabled": _l("Portal login turned on"),
    "portal_login.revoked": _l("Portal login turned off"),
    "portal_login.invitation_resent": _l("Portal invitation sent again"),
    "portal_login.address_changed": _l("Portal login address changed"),
    "portal_login.notifications": _l("Portal login notifications changed"),
    "portal_login.accepted": _l("Portal login activated"),
    "customer.portal_access": _l("Portal access changed"),
    "contact.added": _l("Contact person added"),
    "contact.updated": _l("Contact person updated"),
    "contact.removed": _l("Contact person removed"),
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


MAIL_STATUS_LABELS = {
    "queued": _l("queued"),
    "sending": _l("sending"),
    "sent": _l("sent"),
    "failed": _l("failed"),
}
EMAIL_TEMPLATE_LABELS = {
    "invoice_issued": _l("Invoice"),
    "invoice_reminder": _l("Payment reminder"),
    "account_notice": _l("Account notice"),
}


def mail_status_label(status) -> str:
    key = getattr(status, "value", status)
    return MAIL_STATUS_LABELS.get(key, key)


def email_template_label(template: str) -> str:
    return EMAIL_TEMPLATE_LABELS.get(template, template)


LOGIN_STATUS_LABELS = {
    "invited": _l("invited"),
    "active": _l("active"),
    "revoked": _l("revoked"),
    "not_invited": _l("not invited"),
}


def login_status_label(status: str) -> str:
    return LOGIN_STATUS_LABELS.get(status, status)
