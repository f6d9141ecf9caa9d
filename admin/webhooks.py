"""Webhook endpoints in the settings (owners and admins): add, disable, delete, rotate the
secret, send a test event; each endpoint's deliveries with every attempt, and Resend.

The signing secret is the managers' to see: the endpoint page shows it on request (a
<details> element), answered with Cache-Control: no-store; it never travels in a flash
message (the session cookie).
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField, SubmitField
from wtforms.validators import Length, Optional

from admin import bp, manager_required
from admin.forms import MultiCheckboxField
from models.events import EVENT_TYPES
from models.services import webhooks
from models.services.errors import NotFound
from models.webhooks import DeliveryStatus
from web.forms import ActionForm, AppForm, options
from web.rendering import render
from web.transaction import commit_change

EVENT_LABELS = {
    "payment.received": _l("Payment received"),
    "quote.accepted": _l("Quote accepted"),
    "quote.rejected": _l("Quote rejected"),
    "question.asked": _l("Question asked"),
    "email.provided": _l("E-mail address provided"),
    "instalment_plan.requested": _l("Instalment plan requested"),
    "instalment_plan.approved": _l("Instalment plan approved"),
    "contact_persons.changed": _l("Contact persons changed"),
    "master_data.changed": _l("Details changed by the customer"),
    webhooks.TEST_EVENT: _l("Test event"),
}
STATUS_LABELS = {
    DeliveryStatus.queued: _l("Waiting"),
    DeliveryStatus.sending: _l("Sending"),
    DeliveryStatus.delivered: _l("Delivered"),
    DeliveryStatus.failed: _l("Failed"),
}
DELIVERIES_SHOWN = 50


class EndpointForm(AppForm):
    url = StringField(_l("URL"), validators=[Length(max=webhooks.URL_MAX)],
                      description=_l("Where Dossier posts events, e.g. https://accounting.example.com/dossier-hooks."))
    description = StringField(_l("Description (optional)"), validators=[Optional(), Length(max=200)])
    event_types = MultiCheckboxField(
        _l("Events"), choices=options([(t, EVENT_LABELS[t]) for t in EVENT_TYPES]),
        description=_l("Tick none to receive every event, including kinds added later."),
    )
    submit = SubmitField(_l("Add endpoint"))


def _endpoint(endpoint_id: int):
    try:
        return webhooks.get_endpoint(endpoint_id)
    except NotFound:
        abort(404)


def _list(form: EndpointForm, *, status: int = 200):
    return render("admin/webhooks.html", form=form, endpoints=webhooks.endpoints(), event_labels=EVENT_LABELS,
                  status=status)


@bp.route("/settings/webhooks", methods=["GET", "POST"])
@manager_required
def webhook_endpoints():
    form = EndpointForm()
    if form.validate_on_submit():
        outcome = commit_change(lambda: webhooks.add_endpoint(
            current_user, url=form.url.data, description=form.description.data, event_types=form.event_types.data),
            form)
        if outcome:
            flash(_("The endpoint was added. Copy its signing secret into the receiving system."), "success")
            return redirect(url_for("admin.webhook_endpoint", endpoint_id=outcome.value.id))
    return _list(form, status=422 if request.method == "POST" else 200)


@bp.get("/settings/webhooks/<int:endpoint_id>")
@manager_required
def webhook_endpoint(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    deliveries = webhooks.deliveries_of(endpoint, DELIVERIES_SHOWN)
    response = render("admin/webhook.html", endpoint=endpoint, deliveries=deliveries,
                      attempts=webhooks.attempts_of([d.id for d in deliveries]), action_form=ActionForm(),
                      event_labels=EVENT_LABELS, status_labels=STATUS_LABELS,
                      masked=webhooks.masked(endpoint.secret), rotation=webhooks.rotation_ends(endpoint))
    response.headers["Cache-Control"] = "no-store"  # the page holds the signing secret
    return response


@bp.post("/settings/webhooks/<int:endpoint_id>/active")
@manager_required
def webhook_endpoint_active(endpoint_id: int):
    """Enable (`active=on`) or disable (anything else) the endpoint."""
    endpoint = _endpoint(endpoint_id)
    if ActionForm().validate_on_submit():
        active = request.form.get("active") == "on"
        commit_change(lambda: webhooks.set_active(current_user, endpoint, active))
        flash(_("The endpoint was enabled.") if active else _("The endpoint was disabled."), "success")
    return redirect(url_for("admin.webhook_endpoint", endpoint_id=endpoint.id))


@bp.post("/settings/webhooks/<int:endpoint_id>/delete")
@manager_required
def webhook_endpoint_delete(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    if ActionForm().validate_on_submit():
        commit_change(lambda: webhooks.delete_endpoint(current_user, endpoint))
        flash(_("The endpoint was removed, with its deliveries."), "success")
        return redirect(url_for("admin.webhook_endpoints"))
    return redirect(url_for("admin.webhook_endpoint", endpoint_id=endpoint.id))


@bp.post("/settings/webhooks/<int:endpoint_id>/rotate")
@manager_required
def webhook_endpoint_rotate(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    if ActionForm().validate_on_submit():
        commit_change(lambda: webhooks.rotate_secret(current_user, endpoint))
        flash(_("A new signing secret was made: copy it into the receiving system. For 24 hours deliveries are "
                "signed with the old one too."), "success")
    return redirect(url_for("admin.webhook_endpoint", endpoint_id=endpoint.id))


@bp.post("/settings/webhooks/<int:endpoint_id>/test")
@manager_required
def webhook_endpoint_test(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    if ActionForm().validate_on_submit():
        if commit_change(lambda: webhooks.send_test(current_user, endpoint), flash_error=True):
            flash(_("A test event is on its way; its delivery is listed below."), "success")
    return redirect(url_for("admin.webhook_endpoint", endpoint_id=endpoint.id))


@bp.post("/settings/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
@manager_required
def webhook_delivery_resend(endpoint_id: int, delivery_id: int):
    endpoint = _endpoint(endpoint_id)
    try:
        delivery = webhooks.get_delivery(endpoint, delivery_id)
    except NotFound:
        abort(404)
    if ActionForm().validate_on_submit():
        if commit_change(lambda: webhooks.resend(current_user, delivery), flash_error=True):
            flash(_("The delivery was queued again."), "success")
    return redirect(url_for("admin.webhook_endpoint", endpoint_id=endpoint.id))
