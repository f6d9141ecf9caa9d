"""Automatic reminders, staff side: the letter list (reminders for customers without an
e-mail address, to print), holding reminders for a customer and marking an invoice disputed.
The schedule itself is a settings page (admin/settings.py)."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from admin import bp
from admin.forms import FlagForm, LettersPrintedForm
from models.customers import Customer
from models.documents import REMINDER_LEVEL_NAMES
from models.services import documents as document_service
from models.services import dunning
from models.services.access import customer_visibility, get_customer
from web.rendering import render
from web.transaction import commit_change


def _visible_customer_ids():
    """What the staff member may see, as a select of customer ids (None: every customer)."""
    clause = customer_visibility(current_user)
    return None if clause is None else select(Customer.id).where(clause)


def _letters_page(form: LettersPrintedForm, status: int = 200):
    return render("admin/dunning_letters.html", letters=dunning.letter_list(_visible_customer_ids()),
                  level_names=REMINDER_LEVEL_NAMES, form=form, status=status)


@bp.get("/reminders/letters")
def dunning_letters():
    return _letters_page(LettersPrintedForm(formdata=None))


@bp.post("/reminders/letters/printed")
def dunning_letters_printed():
    form = LettersPrintedForm()
    if not form.validate_on_submit():
        form.form_errors.append(_("Choose the letters you printed."))
        return _letters_page(form, 422)
    ids = [int(part) for part in form.notices.data.split(",")]
    count = commit_change(lambda: dunning.mark_printed(current_user, ids, _visible_customer_ids())).value
    flash(_("Marked as printed.") if count else _("Nothing to mark: printed already."), "success")
    return redirect(url_for("admin.dunning_letters"))


@bp.post("/customers/<int:customer_id>/dunning-hold")
def customer_dunning_hold(customer_id: int):
    customer = get_customer(current_user, customer_id)
    form = FlagForm()
    if form.validate_on_submit() and commit_change(
            lambda: dunning.set_hold(current_user, customer, form.value.data == "1"), flash_error=True):
        flash(_("Automatic reminders are held for this customer.") if customer.dunning_hold
              else _("Automatic reminders resume for this customer."), "success")
    elif form.errors:
        flash(_("Choose on or off."), "error")
    return redirect(url_for("admin.customer_overview", customer_id=customer.id))


@bp.post("/documents/<int:document_id>/dispute")
def document_dispute(document_id: int):
    document = document_service.get_document(current_user, document_id)
    form = FlagForm()
    if form.validate_on_submit() and commit_change(
            lambda: dunning.set_disputed(current_user, document, form.value.data == "1"), flash_error=True):
        flash(_("The invoice is marked disputed: no automatic reminders for it.") if document.disputed
              else _("The dispute is cleared: automatic reminders include the invoice again."), "success")
    elif form.errors:
        flash(_("Choose on or off."), "error")
    return redirect(url_for("admin.document_detail", document_id=document.id))
