"""Which language a page is in (the customer's, else the staff member's choice, else the
browser's), and the labels pages show for stored codes.

Translation itself is Flask-Babel as shipped: `babel.init_app(app, locale_selector=
select_locale)` in wsgi.py; Python code uses `flask_babel.gettext` / `lazy_gettext`, mail
`force_locale(language)`, and templates the `_` / `gettext` / `ngettext` that Flask-Babel
installs into Jinja (newstyle: autoescaped, `%(name)s` variables as keywords), bound per
render by models.formatting.template_translations (pages and mail alike).
"""

from __future__ import annotations

from flask import current_app, g, has_request_context, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from models.documents import KIND_NAMES, DocumentKind

LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands", "de": "Deutsch"}


def select_locale() -> str:
    if not has_request_context():  # CLI and workers: the default until told otherwise
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if g.get("customer_language"):  # customer-facing pages speak the customer's language
        return g.customer_language
    if current_user and current_user.is_authenticated and getattr(current_user, "language", None):
        return current_user.language
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"


def current_locale_id() -> str:
    """The current locale as text ("nl"), e.g. as a cache key."""
    return str(get_locale() or "en")


AUDIT_LABELS = {
    "reminder.letter_listed": _l("Reminder put on the letter list"),
    "instalment.reminded": _l("Instalment reminder"),
    "customer.dunning_hold": _l("Automatic reminders held or resumed"),
    "document.disputed": _l("Invoice dispute changed"),
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
    "payment.received": _l("Payment received"),
    "payment.mismatch": _l("Payment not booked: amount or currency differs"),
    "payment.overpaid": _l("Payment exceeded what was due: credit for the customer"),
    "letter.printed": _l("Letter printed"),
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
    "question.asked": _l("Question asked on the dossier"),
    "question.answered": _l("Question answered"),
    "instalment_plan.requested": _l("Instalment plan requested"),
    "instalment_plan.approved": _l("Instalment plan approved"),
    "instalment_plan.declined": _l("Instalment plan declined"),
    "instalment_plan.cancelled": _l("Instalment plan cancelled"),
    "customer.email_adopted": _l("Provided e-mail address adopted"),
    "customer.email_dismissed": _l("Provided e-mail address dismissed"),
    "invoice.draft_edited": _l("Draft invoice edited"),
    "invoice.issued": _l("Invoice issued"),
    "invoice.draft_deleted": _l("Draft invoice deleted"),
    "invoice.cancelled": _l("Invoice cancelled"),
    "invoice.credited": _l("Credit note issued for the invoice"),
    "invoice.written_off": _l("Remainder written off"),
    "quote.created": _l("Quote created"),
    "quote.accepted": _l("Quote accepted"),
    "quote.rejected": _l("Quote rejected"),
    "credit_note.created": _l("Credit note created"),
    "reminder.created": _l("Reminder created"),
    "delivery_note.created": _l("Delivery note created"),
    "order_confirmation.created": _l("Order confirmation created"),
    "document.released": _l("Document released to the customer"),
    "document.withdrawn": _l("Document withdrawn from the customer"),
    "payment.recorded": _l("Payment recorded"),
    "payment.undone": _l("Payment undone"),
    "credit.applied": _l("Customer credit applied"),
    "quote.sent": _l("Quote sent"),
    "credit_note.sent": _l("Credit note sent"),
    "reminder.sent": _l("Reminder sent"),
    "delivery_note.sent": _l("Delivery note sent"),
    "order_confirmation.sent": _l("Order confirmation sent"),
    "customer.changed_by_customer": _l("Changed by the customer"),
    "customer.email_change_requested": _l("New e-mail address asked for by the customer (waiting for confirmation)"),
    "customer.changes_confirmed": _l("Changes by the customer confirmed"),
}


def audit_label(action: str) -> str:
    return AUDIT_LABELS.get(action, action)


STATUS_LABELS = {
    "draft": _l("draft"),
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


def kind_name(kind) -> str:
    """"Invoice", "Quote", …: a DocumentKind or its value ("order_confirmation")."""
    return KIND_NAMES[DocumentKind(kind)]


MAIL_STATUS_LABELS = {
    "queued": _l("queued"),
    "sending": _l("sending"),
    "sent": _l("sent"),
    "failed": _l("failed"),
}
EMAIL_TEMPLATE_LABELS = {
    "mail_reply": _l("Reply to an e-mail"),
    "portal_security_notice": _l("Login changed notice"),
    "invoice_issued": _l("Invoice"),
    "invoice_reminder": _l("Payment reminder"),
    "instalment_reminder": _l("Instalment reminder"),
    "payment_received": _l("Payment received"),
    "account_notice": _l("Account notice"),
    "question_answered": _l("Answer to a question"),
    "document_question_answered": _l("Answer to a question"),
    "instalment_confirmed": _l("Instalment plan confirmed"),
    "instalment_requested": _l("Instalment plan requested"),
    "instalment_approved": _l("Instalment plan approved"),
    "instalment_declined": _l("Instalment plan declined"),
    "instalment_cancelled": _l("Instalment plan cancelled"),
    "document_quote": KIND_NAMES[DocumentKind.quote],
    "document_credit_note": KIND_NAMES[DocumentKind.credit_note],
    "document_reminder": KIND_NAMES[DocumentKind.reminder],
    "document_delivery_note": KIND_NAMES[DocumentKind.delivery_note],
    "document_order_confirmation": KIND_NAMES[DocumentKind.order_confirmation],
    "document_quote_accepted": _l("Quote accepted (staff notice)"),
    "document_quote_rejected": _l("Quote rejected (staff notice)"),
    "customer_code": _l("One-time code"),
    "customer_email_confirm": _l("New e-mail address to confirm"),
    "customer_details_notice": _l("Details changed notice"),
    "customer_details_changed": _l("Details changed by the customer (staff notice)"),
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
