"""Business settings and custom field definitions (owners and admins)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from admin import bp, manager_required
from admin.forms import CustomFieldForm, DeleteForm, DunningScheduleForm, PortalApplyForm, SettingsForm
from admin.payment_forms import BusinessDetailsForm
from models.services import business_details as seller
from models.services import customers as customer_service
from models.services import dunning_schedule, portal_access
from models.documents import REMINDER_LEVEL_NAMES, REMINDER_LEVELS
from models.dunning import LANGUAGES as LANGUAGE_CODES
from models import clock
from models.services.settings import (
    KINDS,
    LOGO_MAX_BYTES,
    document_settings,
    formatted_number,
    get_settings,
    update_settings,
)
from web.rendering import render
from web.transaction import commit_change


def _settings_form(current, year: int, *, posted: bool) -> SettingsForm:
    """The form as saved (GET) or as posted; the next numbers say what they will look like."""
    saved = document_settings(current, year)
    form = SettingsForm() if posted else SettingsForm(formdata=None, obj=current, data=saved)
    for kind in KINDS:
        number = formatted_number(current.prefix_for(kind), year, saved[f"next_number_{kind}"])
        form[f"next_number_{kind}"].description = _("This year's next number is %(number)s; it can only go up.",
                                                    number=number)
    return form


@bp.route("/settings", methods=["GET", "POST"])
@manager_required
def settings():
    current = get_settings()
    year = clock.today().year
    form = _settings_form(current, year, posted=request.method == "POST")
    if form.validate_on_submit():
        upload = form.logo.data
        logo = upload.read(LOGO_MAX_BYTES + 1) if upload and getattr(upload, "filename", "") else None
        if commit_change(lambda: update_settings(current_user, form.data, logo=logo, remove_logo=form.remove_logo.data,
                                                 year=year), form):
            flash(_("The settings were saved."), "success")
            return redirect(url_for("admin.settings"))
    return render(
        "admin/settings.html", form=form, settings=current, kinds=KINDS, **_apply_context(),
        status=422 if request.method == "POST" else 200,
    )


def _apply_context(apply_form=None) -> dict:
    return {
        "apply_form": apply_form or PortalApplyForm(formdata=None),
        "would_change": {
            "on": portal_access.count_portal_access_changes(True),
            "off": portal_access.count_portal_access_changes(False),
        },
    }


@bp.post("/settings/portal-access")
@manager_required
def portal_access_apply():
    """Portal access for every existing customer at once, after an explicit confirmation."""
    form = PortalApplyForm()
    if form.validate_on_submit():
        changed = commit_change(lambda: portal_access.apply_portal_access_to_all(current_user, form.enabled.data == "on")).value
        flash(ngettext("Portal access changed for %(num)s customer.",
                       "Portal access changed for %(num)s customers.", changed), "success")
        return redirect(url_for("admin.settings"))
    current = get_settings()
    return render("admin/settings.html", form=_settings_form(current, clock.today().year, posted=False),
                  settings=current, kinds=KINDS, **_apply_context(form), status=422)


@bp.route("/settings/business-details", methods=["GET", "POST"])
@manager_required
def business_details():
    """The business as a seller: legal address, tax ids and the account debtors pay into."""
    current = get_settings()
    form = BusinessDetailsForm() if request.method == "POST" else BusinessDetailsForm(formdata=None, obj=current)
    if form.validate_on_submit() and commit_change(
            lambda: seller.update_business_details(current_user, form.data), form):
        flash(_("The business details were saved."), "success")
        return redirect(url_for("admin.business_details"))
    return render("admin/settings_business.html", form=form, settings=current,
                  qr_missing=seller.payment_qr_missing(current),
                  status=422 if request.method == "POST" else 200)


@bp.route("/settings/fields", methods=["GET", "POST"])
@manager_required
def custom_fields():
    form = CustomFieldForm()
    if form.validate_on_submit() and commit_change(
            lambda: customer_service.define_custom_field(current_user, form.label.data, form.kind.data), form):
        flash(_("The field was added."), "success")
        return redirect(url_for("admin.custom_fields"))
    return render(
        "admin/custom_fields.html", form=form, delete_form=DeleteForm(),
        fields=customer_service.custom_field_definitions(),
        status=422 if request.method == "POST" else 200,
    )


@bp.post("/settings/fields/<int:field_id>/delete")
@manager_required
def custom_field_delete(field_id: int):
    field = customer_service.custom_field(field_id)
    if field is None:
        abort(404)
    if DeleteForm().validate_on_submit():
        commit_change(lambda: customer_service.remove_custom_field(current_user, field))
        flash(_("The field was removed."), "success")
    return redirect(url_for("admin.custom_fields"))


@bp.route("/settings/reminders", methods=["GET", "POST"])
@manager_required
def dunning_settings():
    """Automatic reminders: on or off, the levels' days, fees, interest and texts."""
    posted = request.method == "POST"
    form = DunningScheduleForm() if posted else DunningScheduleForm(formdata=None, data=dunning_schedule.form_data())
    if form.validate_on_submit() and commit_change(
            lambda: dunning_schedule.update_schedule(current_user, form.data), form):
        flash(_("The reminder schedule was saved."), "success")
        return redirect(url_for("admin.dunning_settings"))
    return render("admin/dunning_settings.html", form=form, level_names=REMINDER_LEVEL_NAMES, levels=REMINDER_LEVELS,
                  languages=LANGUAGE_CODES,
                  status=422 if posted else 200)
