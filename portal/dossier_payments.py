"""Paying, from the dossier link and from the login: the Pay buttons (one invoice, the ticked
ones, all of one currency, a due instalment of the plan), the test provider's checkout page, the return from a checkout;
and, outside the customer's place, the provider webhooks and `flask --app wsgi payments
reconcile`.

Thin on purpose: each view parses its input, calls models.services.payments, commits and
redirects or renders. Every page of the place (portal.place.route) reaches payments and
invoices only of its own customer, and is never cached. Webhooks are CSRF-exempt and need
no login: Mollie's are checked by asking Mollie, Stripe's by their signature.
"""

from __future__ import annotations

import logging

import click
from flask import abort, flash, redirect, request, url_for
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import Field, HiddenField
from wtforms.validators import AnyOf, DataRequired, Length, Optional, Regexp

from models.db import db
from models.formatting import format_currency
from models.payments import Payment, PaymentStatus
from models.services import instalments, payments, providers
from models.services.errors import NotFound
from models.services.providers.stripe import InvalidSignature
from portal import bp
from portal.place import CustomerPlace, invoice_of, invoices_of, route
from web.errors import parse_id
from web.extensions import csrf
from web.forms import AppForm
from web.rendering import external_url
from web.transaction import commit_change

log = logging.getLogger(__name__)
MAX_TICKED = 200  # more boxes than any page shows


class TickedInvoices(Field):
    """The ids of the ticked invoices (`invoices`, one value per box)."""

    def process_formdata(self, valuelist):
        ids = [parse_id(value) for value in valuelist[:MAX_TICKED + 1]]
        if None in ids or len(ids) > MAX_TICKED:
            self.data = []
            raise ValueError(_l("Tick the invoices you want to pay."))
        self.data = ids

    def _value(self):
        return ""


class PayForm(AppForm):
    """A Pay button: one invoice's id, "selected" (the ticked boxes) or "all" (per currency
    when there are several)."""

    invoice = HiddenField(_l("Invoice"), validators=[DataRequired(), Length(max=12),
                                                     Regexp(r"^(all|selected|[1-9][0-9]{0,9})$")])
    invoices = TickedInvoices(_l("Invoices"), default=list)
    currency = HiddenField(_l("Currency"), validators=[Optional(), Regexp(r"^[A-Z]{3}$")])


class PayInstalmentForm(AppForm):
    """A plan's "Pay" button: the instalment's id."""

    instalment = HiddenField(_l("Instalment"), validators=[DataRequired(), Regexp(r"^[1-9][0-9]{0,9}$")])


class TestCheckoutForm(AppForm):
    """The test provider's three buttons."""

    outcome = HiddenField(_l("Outcome"), validators=[DataRequired(), AnyOf(tuple(payments.TEST_OUTCOMES))])


def _message(place: CustomerPlace, message: str, status: int, links=()):
    """A payment that could not be started: say why, link back to the overview."""
    return place.render("portal/dossier/checkout_message.html", status=status, message=message, links=links)


def _already_started(place: CustomerPlace, error: payments.AlreadyBeingPaid):
    """Everything asked for is in a payment the customer started and has not finished: a way
    back to each of those checkouts instead of a second payment."""
    links = [(_("Continue the payment of %(amount)s", amount=format_currency(p.amount, p.currency)),
              _checkout_url(place, p))
             for p in error.payments if providers.configured(p.provider) and _checkout_url(place, p)]
    return _message(place, str(error.message), 409, links)


def _unavailable(place: CustomerPlace):
    return _message(place, _("Online payment is not available at the moment. Please pay by bank transfer."), 409)


def _payment_of(place: CustomerPlace, payment_id: int) -> Payment:
    payment = payments.customer_payment(place.customer, payment_id)
    if payment is None:
        abort(404)
    return payment


def _checkout_url(place: CustomerPlace, payment: Payment) -> str:
    if payment.provider == "test":
        return place.url("test_checkout", payment_id=payment.id)
    return payment.checkout_url


@bp.app_template_global()
def payments_offered(business) -> bool:
    """Pay buttons show only when payments are allowed and the chosen provider has its keys."""
    return providers.offered(business)


def _what_to_pay(place: CustomerPlace, form: PayForm) -> dict:
    """The invoice, the ticked invoices or all of them: another customer's id, or one that is
    not released, is a 404."""
    if form.invoice.data == "all":
        if not place.settings.releases("invoice"):
            abort(404)
        return {"currency": form.currency.data or None}
    if form.invoice.data == "selected":
        return {"invoice_ids": invoices_of(place, form.invoices.data) if form.invoices.data else []}
    return {"invoice": invoice_of(place, int(form.invoice.data))}


@route("/pay", "pay", methods=("POST",))
def pay(place: CustomerPlace):
    form = PayForm()
    if not form.validate_on_submit():
        return _message(place, _("Choose an invoice to pay."), 422)
    if not providers.offered(place.settings):
        return _unavailable(place)
    what = _what_to_pay(place, form)
    try:
        provider = providers.get(place.settings.payment_provider)
    except providers.ProviderUnavailable:
        return _unavailable(place)
    return _start(place, provider, what)


def _start(place: CustomerPlace, provider, what: dict):
    """Start the payment and send the debtor to its checkout (or say why not)."""
    # Committed here: the row exists before the provider hears of it.
    started = commit_change(lambda: payments.start(place.customer, provider, **what))
    if isinstance(started.error, payments.AlreadyBeingPaid):
        return _already_started(place, started.error)
    if not started:
        return _message(place, str(started.error.message), 422)
    payment = started.value
    try:
        payments.open_checkout(
            payment, provider,
            redirect_url=external_url(place.url("pay_return", payment_id=payment.id)),
            webhook_url=external_url(url_for("portal.payment_webhook", provider=provider.name)),
            locale=place.customer.language,
        )
    except providers.ProviderError:
        db.session.commit()  # the payment is marked failed
        return _message(place, _("The payment could not be started. Please try again in a few minutes."), 502)
    db.session.commit()
    return redirect(_checkout_url(place, payment), 303)


@route("/instalments/pay", "instalments_pay", methods=("POST",))
def instalments_pay(place: CustomerPlace):
    """Pay one due instalment of the customer's plan (models.services.payments.start)."""
    if not instalments.offered(place.settings):
        abort(404)
    form = PayInstalmentForm()
    if not form.validate_on_submit():
        return _message(place, _("Choose an instalment to pay."), 422)
    instalment_id = parse_id(form.instalment.data)
    if instalment_id is None:
        abort(404)
    try:
        instalment = instalments.customer_instalment(place.customer, instalment_id)
    except NotFound:
        abort(404)
    if not providers.offered(place.settings):
        return _unavailable(place)
    try:
        provider = providers.get(place.settings.payment_provider)
    except providers.ProviderUnavailable:
        return _unavailable(place)
    return _start(place, provider, {"instalment": instalment})


def _open_test_payment(place: CustomerPlace, payment_id: int) -> Payment:
    payment = _payment_of(place, payment_id)
    if payment.provider != "test" or not providers.configured("test"):
        abort(404)
    return payment


@route("/pay/test/<int(max=2147483647):payment_id>", "test_checkout")
def test_checkout(place: CustomerPlace, payment_id: int):
    """The built-in test provider's checkout: no money moves."""
    payment = _open_test_payment(place, payment_id)
    if payment.status != PaymentStatus.open:
        return redirect(place.url("pay_return", payment_id=payment.id), 303)
    return place.render("portal/dossier/checkout_test.html", payment=payment, form=TestCheckoutForm(),
                        numbers=payments.invoice_numbers(payment))


@route("/pay/test/<int(max=2147483647):payment_id>", "test_checkout_outcome", methods=("POST",))
def test_checkout_outcome(place: CustomerPlace, payment_id: int):
    payment = _open_test_payment(place, payment_id)
    form = TestCheckoutForm()
    if not form.validate_on_submit():
        return _message(place, _("Choose Success, Failure or Cancel."), 422)
    try:
        payments.test_outcome(payment, form.outcome.data)
    except NotFound:
        abort(404)
    db.session.commit()
    return redirect(place.url("pay_return", payment_id=payment.id), 303)


@route("/pay/return/<int(max=2147483647):payment_id>", "pay_return")
def pay_return(place: CustomerPlace, payment_id: int):
    """Back from the checkout: ask the provider at once (its webhook may still be on its
    way), then show the outcome on the overview."""
    payment = _payment_of(place, payment_id)
    try:
        payments.refresh(payment)
        db.session.commit()
    except providers.ProviderError:
        db.session.rollback()
        log.warning("payment %s: provider unreachable on return", payment_id)
    if payment.status == PaymentStatus.paid:
        flash(_("Payment received. Thank you!"), "success")
    elif payment.status == PaymentStatus.open:
        flash(_("We have not received your payment yet. If you completed it, it will show here within a few minutes."), "info")
    else:
        flash(_("The payment was not completed. Your invoices are still open."), "error")
    return redirect(place.url("overview", _anchor="open-h"), 303)


@bp.post("/webhooks/<provider>")
@csrf.exempt
def payment_webhook(provider: str):
    if provider == "mollie":
        if not providers.configured("mollie"):
            abort(404)
        try:
            payments.mollie_webhook(request.form.get("id", "", type=str))
        except providers.ProviderError:
            db.session.rollback()
            return "", 503  # Mollie tries again later
        db.session.commit()
        return "", 200  # the same answer for known and unknown ids
    if provider == "stripe":
        try:
            outcome = payments.stripe_webhook(request.get_data(), request.headers.get("Stripe-Signature"))
        except providers.ProviderUnavailable:
            abort(404)
        except InvalidSignature:
            db.session.rollback()
            return {"error": "invalid signature"}, 401
        except ValueError:
            db.session.rollback()
            return {"error": "malformed event"}, 400
        db.session.commit()
        return {"outcome": outcome}, 200
    abort(404)


payments_cli = AppGroup("payments", help="Online payments.")


@payments_cli.command("reconcile")
@click.option("--days", default=3, show_default=True, type=click.IntRange(1, 366),
              help="Re-check open payments started in this many last days.")
def reconcile(days: int) -> None:
    """Ask the providers about open payments and book those that were paid (a webhook that never came)."""
    ids = payments.reconcile_candidates(days)
    booked = errors = 0
    for payment_id in ids:
        payment = db.session.get(Payment, payment_id)
        try:
            outcome = payments.refresh(payment)
        except providers.ProviderError as error:
            db.session.rollback()
            errors += 1
            click.echo(f"payment {payment_id}: {error}", err=True)
            continue
        db.session.commit()
        booked += outcome == "booked"
    click.echo(f"{len(ids)} open payments checked, {booked} booked, {errors} could not be checked.")
    if errors:
        raise click.exceptions.Exit(1)

# `flask --app wsgi payments …`: added to the app when the portal blueprint is registered.
bp.record_once(lambda state: state.app.cli.add_command(payments_cli))
