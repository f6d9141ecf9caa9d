"""Which language a page is in: the staff member's choice, else the browser's."""

from __future__ import annotations

import functools

from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Domain, get_domain, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from babel.support import NullTranslations
from jinja2 import pass_context
from markupsafe import Markup

LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands", "de": "Deutsch"}


def select_locale() -> str:
    if not has_request_context():  # CLI and workers: the default until told otherwise
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if g.get("customer_language"):  # customer-facing pages speak the customer's language
        return g.customer_language
    if current_user and current_user.is_authenticated and getattr(current_user, "language", None):
        return current_user.language
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"


def _current() -> tuple[object, str, NullTranslations]:
    """(locale, its id, its catalogue), looked up once per request and locale.

    Flask-Babel finds the locale and catalogue anew for every string and every formatted
    amount (several `g` proxy lookups each); a page has a hundred or more. This reads the
    locale Flask-Babel already chose for this request (it keeps it on `g._flask_babel`,
    and `force_locale` replaces it there) and keys the cache by that Locale object, so a
    mail in the customer's language gets its own entry.
    """
    real_g = g._get_current_object()
    state = real_g.__dict__
    babel_state = state.get("_flask_babel")
    locale = getattr(babel_state, "babel_locale", None) or get_locale()
    cached = state.get("_dossier_i18n")
    if cached is None or cached[0] is not locale:
        catalogue = Domain.get_translations(get_domain())  # Flask-Babel's own lookup
        cached = state["_dossier_i18n"] = (locale, str(locale or "en"), catalogue)
    return cached


class RequestCachedDomain(Domain):
    """Flask-Babel's message domain, reading the catalogue `_current()` keeps per request:
    `gettext` and every lazy string (form labels, messages) otherwise look the locale and
    catalogue up again each time, which made a form's labels a tenth of a request."""

    def get_translations(self):
        return _current()[2] if g else super().get_translations()


def current_locale_id() -> str:
    return _current()[1] if g else "en"


def install_template_gettext(app: Flask) -> None:
    """Gettext in Python and in templates through the catalogue cached per request."""
    configuration = app.extensions["babel"]
    configuration.instance.domain_instance = RequestCachedDomain(domain=configuration.default_domain)
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _current()[2].ugettext(s),
        ngettext=lambda s, p, n: _current()[2].ungettext(s, p, n),
        pgettext=lambda c, s: _current()[2].upgettext(c, s),
        npgettext=lambda c, s, p, n: _current()[2].unpgettext(c, s, p, n),
        newstyle=True,
    )
    # `_` and `gettext`, the strings of every page: the same newstyle semantics as Jinja's
    # (autoescaped, always %-formatted), without its two Context.call hops per string.
    app.jinja_env.globals.update(_=_template_gettext, gettext=_template_gettext)


@pass_context
def _template_gettext(context, string: str, **variables) -> str:
    catalogue = _current()[2]
    if not variables:
        return _constant(catalogue, string, context.eval_ctx.autoescape)
    text = catalogue.ugettext(string)
    return (Markup(text) if context.eval_ctx.autoescape else text) % variables


@functools.lru_cache(maxsize=4096)
def _constant(catalogue: NullTranslations, string: str, autoescape: bool) -> str:
    """A string without variables comes out the same every time (per catalogue)."""
    text = catalogue.ugettext(string)
    return (Markup(text) if autoescape else text) % {}


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
    "payment.received": _l("Payment received"),
    "payment.mismatch": _l("Payment not booked: amount or currency differs"),
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
    "payment_received": _l("Payment received"),
    "account_notice": _l("Account notice"),
    "question_answered": _l("Answer to a question"),
    "instalment_confirmed": _l("Instalment plan confirmed"),
    "instalment_requested": _l("Instalment plan requested"),
    "instalment_approved": _l("Instalment plan approved"),
    "instalment_declined": _l("Instalment plan declined"),
    "instalment_cancelled": _l("Instalment plan cancelled"),
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
