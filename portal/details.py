"""The customer's own master data: /portal/details (logged in) and /d/<token>/details
(the dossier link). One set of views and one template; the entry point only decides who
the customer is, who acts (for the audit trail) and the page's frame.

Four forms, one per group the settings let customers change (a group switched off is
shown, not offered: its routes answer 404). The rules live in models.services.master_data:
bank details wait for a one-time code sent to the primary address, a new primary address
for the link sent to it. Every POST redirects back (post/redirect/get); a refusal shows
the page again with the message at its field and everything typed kept (422).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional

from models.customers import Customer
from models.services import master_data
from models.services.settings import get_settings
from models.settings import BusinessSettings
from portal import auth, bp
from portal.dossier_verify import masked
from portal.place import dossier_limit, from_link, private
from web.extensions import limiter
from web.forms import AppForm, country_choices, options, strip
from web.i18n import LANGUAGE_NAMES
from web.rendering import render
from web.transaction import attach_error, commit_change

PAGE = "portal/details/page.html"


# --- forms: parsing only; every rule (IBAN, VAT id, what may change) is the service's -------


class ContactDetailsForm(AppForm):
    email = StringField(_l("E-mail address"), filters=[strip], validators=[Length(max=254)],
                        description=_l("A new address is used once you confirm it from a link we send there."))
    phone = StringField(_l("Phone"), filters=[strip], validators=[Optional(), Length(max=40)])
    language = SelectField(_l("Language of our e-mails"), choices=options(LANGUAGE_NAMES.items()), validate_choice=False)
    submit = SubmitField(_l("Save contact details"))


class AddressForm(AppForm):
    street = StringField(_l("Street and number"), filters=[strip], validators=[Length(max=200)])
    postal_code = StringField(_l("Postal code"), filters=[strip], validators=[Length(max=20)])
    city = StringField(_l("City"), filters=[strip], validators=[Length(max=100)])
    country = SelectField(_l("Country"), validate_choice=False)
    submit = SubmitField(_l("Save address"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()


class BankForm(AppForm):
    iban = StringField(_l("IBAN"), filters=[strip], validators=[Length(max=42)])
    bic = StringField(_l("BIC (optional)"), filters=[strip], validators=[Length(max=11)])
    bank_holder = StringField(_l("Account holder"), filters=[strip], validators=[Length(max=200)])
    submit = SubmitField(_l("Send me a code to save these bank details"))


class BankCodeForm(AppForm):
    code = StringField(_l("Code from the e-mail"), filters=[strip], validators=[Length(max=20)])
    submit = SubmitField(_l("Save the new bank details"))


class TaxForm(AppForm):
    vat_id = StringField(_l("VAT ID"), filters=[strip], validators=[Length(max=30)],
                         description=_l("With the country code, e.g. NL123456789B01."))
    tax_number = StringField(_l("Tax number"), filters=[strip], validators=[Length(max=30)])
    submit = SubmitField(_l("Save tax details"))


FORMS = {"contact": ContactDetailsForm, "address": AddressForm, "bank": BankForm, "code": BankCodeForm,
         "tax": TaxForm}


def _values(form: AppForm) -> dict:
    return {name: f.data for name, f in form._fields.items() if name not in ("csrf_token", "submit")}


# --- who the customer is: the entry point decides ------------------------------------------


@dataclass
class Entry:
    customer: Customer
    actor: master_data.CustomerActor
    settings: BusinessSettings
    endpoint: str  # "portal.details" or "portal.dossier_details"
    args: dict
    frame: dict = field(default_factory=dict)  # what the page's layout needs

    def url(self, part: str = "", **extra) -> str:
        return url_for(self.endpoint + (f"_{part}" if part else ""), **self.args, **extra)


def _portal_entry(context) -> Entry:
    settings = get_settings()
    return Entry(context.customer, master_data.CustomerActor(portal_user=context.user), settings,
                 "portal.details", {}, {"layout": "portal/layout.html", "context": context,
                                        "business_name": settings.business_name, "business": settings,
                                        "back_url": url_for("portal.home")})


def _dossier_entry(token: str) -> Entry:
    opened = from_link(token)  # 404 for a bad link; the postal-code check first, if asked
    return Entry(opened.customer, master_data.CustomerActor(), opened.settings, "portal.dossier_details",
                 {"token": token}, {"layout": "portal/details/dossier_layout.html", "dossier": opened,
                                    "business": opened.settings, "token": token,
                                    "back_url": url_for("portal.dossier_page", token=token)})


def _page(entry: Entry, *, posted: dict | None = None, status: int = 200):
    """The page: stored values in every form, except the one just posted (kept as typed)."""
    customer = entry.customer
    stored = {
        "contact": {"email": customer.email, "phone": customer.phone, "language": customer.language},
        "address": {"street": customer.street, "postal_code": customer.postal_code, "city": customer.city,
                    "country": customer.country},
        "bank": {"bic": customer.bic, "bank_holder": customer.bank_holder},  # a new IBAN is typed in full
        "code": {},
        "tax": {"vat_id": customer.vat_id, "tax_number": customer.tax_number},
    }
    forms = {name: FORMS[name](prefix=name, formdata=None, data=data) for name, data in stored.items()}
    forms.update(posted or {})
    bank_waiting, email_waiting = master_data.waiting(customer)
    return private(render(
        PAGE, status=status, entry=entry, customer=customer, forms=forms,
        editable=master_data.editable(entry.settings),
        bank_waiting=bank_waiting, email_waiting=email_waiting,
        primary=masked(customer.email), iban_shown=_iban_shown(customer.iban),
        country_name=dict((c.value, c.label) for c in forms["address"].country.choices).get(customer.country),
        language_name=LANGUAGE_NAMES.get(customer.language, customer.language),
        **entry.frame,
    ))


def _iban_shown(iban: str | None) -> str:
    """The stored IBAN as the page shows it to whoever holds the link: its country and last four."""
    return f"{iban[:2]}•• •••• {iban[-4:]}" if iban else ""


def _group(entry: Entry, group: str) -> None:
    if not master_data.editable(entry.settings)[group]:
        abort(404)


# --- the views, each served from both entry points -----------------------------------------


def details(entry: Entry):
    return _page(entry)


def _save(entry: Entry, group: str, save: Callable, anchor: str):
    _group(entry, group)
    form = FORMS[group](prefix=group)
    if form.validate_on_submit():
        saved = commit_change(lambda: save(entry.actor, entry.customer, entry.settings, _values(form)), form)
        if saved:
            if saved.value.email_pending:
                flash(_("We sent a link to %(address)s. Your new e-mail address is used once you open it.",
                        address=saved.value.email_pending), "info")
            if saved.value.changes or not saved.value.email_pending:
                flash(_("Your details were saved.") if saved.value.changes else _("Nothing was changed."), "success")
            return redirect(entry.url(_anchor=anchor))
    return _page(entry, posted={group: form}, status=422)


def contact(entry: Entry):
    return _save(entry, "contact", master_data.save_contact, "contact-h")


def address(entry: Entry):
    return _save(entry, "address", master_data.save_address, "address-h")


def tax(entry: Entry):
    return _save(entry, "tax", master_data.save_tax, "tax-h")


def bank(entry: Entry):
    _group(entry, "bank")
    form = BankForm(prefix="bank")
    if form.validate_on_submit():
        issued = commit_change(lambda: master_data.request_bank_change(entry.actor, entry.customer, entry.settings,
                                                                       _values(form)), form)
        if issued:
            if issued.value is None:
                flash(_("Nothing was changed."), "success")
            else:
                flash(_("We sent a code to %(address)s. Enter it below to save the new bank details.",
                        address=masked(entry.customer.email)), "info")
            return redirect(entry.url(_anchor="bank-h"))
    return _page(entry, posted={"bank": form}, status=422)


def bank_confirm(entry: Entry):
    _group(entry, "bank")
    form = BankCodeForm(prefix="code")
    if form.validate_on_submit():
        outcome = commit_change(lambda: master_data.confirm_bank_change(entry.actor, entry.customer, entry.settings,
                                                                        form.code.data), form)
        if outcome and outcome.value:
            flash(_("Your new bank details are saved. We will check them before we use them."), "success")
            return redirect(entry.url(_anchor="bank-h"))
        if outcome:  # committed: the try counts; the code was wrong, expired or locked
            attach_error(form, outcome.value.error)
    return _page(entry, posted={"code": form}, status=422)


VIEWS = (("", details, ("GET",)), ("contact", contact, ("POST",)), ("address", address, ("POST",)),
         ("tax", tax, ("POST",)), ("bank", bank, ("POST",)), ("bank/confirm", bank_confirm, ("POST",)))


def _mount() -> None:
    """Each view twice: for the logged-in portal and for the dossier link."""
    for path, view, methods in VIEWS:
        suffix = "/" + path if path else ""
        name = path.replace("/", "_")
        endpoint = "details" + (f"_{name}" if name else "")

        def portal_view(context, _view=view):
            return _view(_portal_entry(context))

        def dossier_view(token: str, _view=view):
            return _view(_dossier_entry(token))

        # Distinct names: Flask-Limiter keys its limits by the view function's name.
        portal_view.__name__ = f"portal_{endpoint}"
        dossier_view.__name__ = f"dossier_{endpoint}"
        bp.add_url_rule("/portal/details" + suffix, endpoint, auth.login_required(portal_view), methods=list(methods))
        bp.add_url_rule("/d/<token>/details" + suffix, f"dossier_{endpoint}", dossier_limit(dossier_view),
                        methods=list(methods))


_mount()


# --- the link to a new primary address ---------------------------------------------------------


@bp.route("/portal/confirm-email/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["DOSSIER_LIMIT_PER_IP"])
def confirm_email(token: str):
    """GET shows what will change (a mail scanner following the link changes nothing); the
    button POSTs. An altered, used, replaced or expired link: 404."""
    found = master_data.email_link(token)
    if found is None:
        return auth.page("portal/details/email_invalid.html", status=404)
    link, customer = found
    g.customer_language = customer.language
    form = AppForm()
    if request.method == "POST" and form.validate_on_submit():
        confirmed = commit_change(lambda: master_data.confirm_email_change(token), form)
        if confirmed:
            return auth.page("portal/details/email_confirmed.html", address=confirmed.value.email)
    return auth.page("portal/details/email_confirm.html", form=form, address=link.payload.get("email"),
                     customer=customer, status=422 if request.method == "POST" else 200)
