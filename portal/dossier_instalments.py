"""…/instalments, from the dossier link and from the login: the customer arranges an
instalment plan, in two steps.

1. "Show the schedule" (POST …/preview): currency, number of instalments and first
   payment date are checked against the business's rules and the dated schedule is shown
   — nothing is saved yet;
2. "Confirm this plan" (POST …/confirm): the values just shown travel back in hidden
   fields with the total that was shown; the plan is saved only if that is still the total
   (otherwise the new schedule is shown to confirm again).

Plain forms and redirects: no JavaScript needed. The rules live in
models/services/instalments.py; the page shows a running plan instead of the form.
"""

from __future__ import annotations


from flask import abort, flash, redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, IntegerField, SelectField, SubmitField
from wtforms.validators import InputRequired
from wtforms.widgets import HiddenInput

from models import clock
from models.db import db
from models.services import instalments
from models.services.errors import DomainError
from portal import bp
from portal.dossier_verify import require_step_up
from portal.place import CustomerPlace, route
from web.forms import AppForm, options
from web.transaction import attach_error, commit_change


class InstalmentForm(AppForm):
    currency = SelectField(_l("Currency"), validate_choice=False)
    count = IntegerField(
        _l("Number of instalments"),
        validators=[InputRequired(message=_l("Enter the number of instalments."))],
    )
    start_date = DateField(
        _l("First payment date"),
        validators=[InputRequired(message=_l("Enter the date of the first payment."))],
    )
    submit = SubmitField(_l("Show the schedule"))


class ConfirmForm(AppForm):
    """The previewed values, unchanged, and the total the debtor saw."""

    currency = HiddenField()
    count = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    start_date = DateField(widget=HiddenInput(), validators=[InputRequired()])
    total = HiddenField()
    submit = SubmitField(_l("Confirm this plan"))


@bp.context_processor
def _instalment_helpers():
    """For the overview's slot: whether the amounts open allow a plan at all (no statement)."""
    return {"instalments_possible": _possible,
            "plan_status_label": instalments.status_label,
            "instalment_payable": _payable}


def _payable(plan, instalment) -> bool:
    """A Pay button for this instalment: the plan is active, it is due (business calendar) and unpaid."""
    return instalments.payable_now(plan, instalment, clock.today())


def _possible(settings, outstanding: dict) -> bool:
    return instalments.offered(settings) and any(
        instalments.max_count(settings, total) >= 2 for total in outstanding.values()
    )


def _offered(place: CustomerPlace, *, step_up: bool = False) -> None:
    """Plans are offered (else 404); `step_up`: a plan is asked for, which from a dossier
    link needs the one-time code sent to the customer's primary address
    (portal.dossier_verify; a login has proved who it is)."""
    if not instalments.offered(place.settings):
        abort(404)
    if step_up and place.by_link:
        require_step_up(place, place.url("instalments"))


def _form(place: CustomerPlace, groups: dict, formdata=True, data=None) -> InstalmentForm:
    form = InstalmentForm(**({} if formdata else {"formdata": None}), data=data)
    form.currency.choices = options((c, c) for c in groups)
    if not form.currency.data and groups:  # a posted value stays, even a wrong one (the service says so)
        default = place.settings.default_currency
        form.currency.data = default if default in groups else next(iter(groups))
    return form


def _page(place: CustomerPlace, *, form=None, proposal=None, confirm_form=None, status: int = 200):
    today = clock.today()
    plan = instalments.running_plan(place.customer)
    groups = {} if plan else instalments.open_by_currency(place.customer)
    if plan is None and form is None:
        form = _form(place, groups)
        form.start_date.data = form.start_date.data or today
    first, last = instalments.start_window(today)
    limits = {currency: instalments.max_count(place.settings, total) for currency, (_, total) in groups.items()}
    return place.render(
        "portal/dossier/instalments.html", status=status, plan=plan, groups=groups, limits=limits, form=form,
        proposal=proposal, confirm_form=confirm_form, first_date=first, last_date=last, today=today,
    )


@route("/instalments", "instalments")
def instalments_page(place: CustomerPlace):
    _offered(place)
    instalments.complete_settled(place.customer)
    db.session.commit()
    return _page(place)


@route("/instalments/preview", "instalments_preview", methods=("POST",))
def instalments_preview(place: CustomerPlace):
    _offered(place, step_up=True)
    form = _form(place, instalments.open_by_currency(place.customer))
    if form.validate_on_submit():
        try:
            proposal = instalments.propose(
                place.settings, place.customer, currency=form.currency.data, count=form.count.data,
                start_date=form.start_date.data, today=clock.today(),
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            confirm = ConfirmForm(formdata=None, data={
                "currency": proposal.currency, "count": proposal.count, "start_date": proposal.start_date,
                "total": str(proposal.total),
            })
            return _page(place, form=form, proposal=proposal, confirm_form=confirm)
    return _page(place, form=form, status=422)


@route("/instalments/confirm", "instalments_confirm", methods=("POST",))
def instalments_confirm(place: CustomerPlace):
    _offered(place, step_up=True)
    confirm = ConfirmForm()
    values = {"currency": confirm.currency.data, "count": confirm.count.data, "start_date": confirm.start_date.data}
    if confirm.validate_on_submit():
        requested = commit_change(lambda: instalments.request_plan(
            place.settings, place.customer, **values, today=clock.today(), expected_total=confirm.total.data or "",
        ))
        problem = requested.error
        if requested:
            if requested.value.status == instalments.PlanStatus.active:
                flash(_("Your instalment plan is confirmed. We have sent you the schedule by e-mail."), "success")
            else:
                flash(_("Your request was sent. We will let you know by e-mail when we have checked it."), "success")
            return redirect(place.url("instalments"))
    else:
        problem = DomainError(_("Something in the plan was not right. Check the values and show the schedule again."))
    form = _form(place, instalments.open_by_currency(place.customer), formdata=False, data=values)
    attach_error(form, problem)
    # The same values once more, against the invoices as they are now: if they still make a
    # plan (only the total changed), its schedule is shown right away to confirm again.
    try:
        proposal = instalments.propose(place.settings, place.customer, **values, today=clock.today())
    except DomainError:
        return _page(place, form=form, status=422)
    confirm = ConfirmForm(formdata=None, data={**values, "total": str(proposal.total)})
    return _page(place, form=form, proposal=proposal, confirm_form=confirm, status=422)
