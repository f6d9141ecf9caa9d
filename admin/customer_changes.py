"""What a customer changed in their own details (portal or dossier link), as staff see it:
the changes since staff last confirmed, a warning while new bank details are unconfirmed,
and the confirmation itself (owners, admins and the staff assigned to the customer)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp
from admin.forms import ActionForm
from models.services import master_data
from models.services.access import get_customer
from web.transaction import commit_change


def section_context(customer) -> dict:
    """For the Info tab: the unconfirmed changes (no query when there are none) and whether
    this staff member may confirm them."""
    changes = master_data.unconfirmed_changes(customer)
    return {"customer_changes": changes,
            "may_confirm_changes": bool(changes or customer.bank_unconfirmed)
            and master_data.may_confirm(current_user, customer)}


@bp.post("/customers/<int:customer_id>/customer-changes/confirm")
def customer_changes_confirm(customer_id: int):
    """"Confirm new bank details" / "Mark as checked": the bank details as the page showed
    them (the hidden `iban`) are confirmed; if they changed since, nothing is."""
    customer = get_customer(current_user, customer_id)
    if not master_data.may_confirm(current_user, customer):
        abort(403)
    if ActionForm().validate_on_submit():
        done = commit_change(lambda: master_data.confirm_changes(current_user, customer, request.form.get("iban")),
                             flash_error=True)
        if done:
            flash(_("The customer's changes are confirmed."), "success")
    return redirect(url_for("admin.customer_info", customer_id=customer.id, _anchor="customer-changes-h"))
