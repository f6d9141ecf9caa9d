"""A contact person's own preferences, from the links in their copy of the customer's mail
(models.services.contact_preferences): no login, the signed link is the key.

- /portal/contact/<token>: GET shows which e-mails they receive (invoice e-mails, account
  e-mails, or nothing); the form POSTs with CSRF.
- /portal/unsubscribe/<token>: the `List-Unsubscribe` address (RFC 8058). A POST with
  `List-Unsubscribe=One-Click`, as mail providers send it (no cookie, no CSRF token: the
  route is CSRF-exempt, the signed token is the authorisation), unsubscribes that contact
  from that one category. A GET (a person clicking it) shows the preferences form and
  changes nothing, so a link scanner cannot unsubscribe anyone.

An altered link, or one for a contact removed or given another address since: 404.
"""

from __future__ import annotations

from flask import abort, current_app, g, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SubmitField

from models.contacts import ContactPerson
from models.customers import Customer
from models.db import db
from models.services import contact_preferences
from portal import auth, bp
from web.extensions import csrf, limiter
from web.forms import AppForm
from web.transaction import commit_change


class ContactPreferencesForm(AppForm):
    invoice_emails = BooleanField(_l("Invoice e-mails (invoices, payments, reminders)"))
    account_emails = BooleanField(_l("Account e-mails (orders, deliveries, subscription changes)"))
    submit = SubmitField(_l("Save my choice"))


def _page(contact: ContactPerson, token: str, form: ContactPreferencesForm, *, saved: bool = False,
          unsubscribed: str | None = None, status: int = 200):
    customer = db.session.get(Customer, contact.customer_id)
    g.customer_language = customer.language if customer else None
    return auth.page("portal/contact_preferences.html", form=form, contact=contact, customer=customer,
                     action=url_for("portal.contact_preferences_page", token=token), saved=saved,
                     unsubscribed=unsubscribed, status=status)


def _preferences_token(contact: ContactPerson) -> str:
    return contact_preferences.preferences_token(contact.id, contact.email)


@bp.route("/portal/contact/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["DOSSIER_LIMIT_PER_IP"])
def contact_preferences_page(token: str):
    contact = contact_preferences.from_preferences_token(token)
    if contact is None:
        abort(404)
    form = ContactPreferencesForm(data={"invoice_emails": contact.invoice_emails,
                                        "account_emails": contact.account_emails})
    if request.method == "POST":
        form = ContactPreferencesForm()
        if not form.validate_on_submit():
            return _page(contact, token, form, status=400)
        outcome = commit_change(lambda: contact_preferences.choose(
            contact, invoice=form.invoice_emails.data, account=form.account_emails.data), form)
        if outcome.error is not None:
            return _page(contact, token, form, status=422)
        return _page(contact, token, form, saved=True)
    return _page(contact, token, form)


@bp.route("/portal/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
@limiter.limit(lambda: current_app.config["DOSSIER_LIMIT_PER_IP"])
def contact_unsubscribe(token: str):
    found = contact_preferences.from_unsubscribe_token(token)
    if found is None:
        abort(404)
    contact, category = found
    preferences = _preferences_token(contact)
    if request.method == "POST":
        if request.form.get("List-Unsubscribe") != "One-Click":
            abort(400)
        commit_change(lambda: contact_preferences.unsubscribe(contact, category))
        return _("You are unsubscribed."), 200, {"Content-Type": "text/plain; charset=utf-8"}
    form = ContactPreferencesForm(data={"invoice_emails": contact.invoice_emails,
                                        "account_emails": contact.account_emails})
    return _page(contact, preferences, form)




