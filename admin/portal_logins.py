"""The Info tab's "Portal logins" section: inline (HTMX) and as plain form posts.

Every action re-renders just the section for HTMX, or redirects back to the Info tab.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp, confirmations
from admin.forms import ActionForm, PortalLoginForm, PortalNotifyForm
from models.services import portal_access
from models.services.access import get_customer
from models.services.errors import DomainError
from web.errors import parse_id
from web.rendering import is_fragment_request, render
from web.transaction import commit_change

# The section's forms share one CSRF token (checked once by ActionForm per request).
NO_CSRF = {"csrf": False}


def section_context(customer, add_form=None, row_forms=None, row_errors=None) -> dict:
    """What the "Portal logins" block needs (the Info view passes it too)."""
    accesses = portal_access.accesses_for_customer(customer)
    addresses = {a.user.email for a in accesses}
    if add_form is None:
        add_form = PortalLoginForm(prefix="add", formdata=None, meta=NO_CSRF)
        if customer.email and customer.email not in addresses:
            add_form.email.data = customer.email  # the primary address is offered first
    row_forms = row_forms or {}
    for access in accesses:
        row_forms.setdefault(("email", access.id), PortalLoginForm(prefix=f"e{access.id}", formdata=None,
                                                                   data={"email": access.user.email}, meta=NO_CSRF))
        row_forms.setdefault(("notify", access.id), PortalNotifyForm(prefix=f"n{access.id}", formdata=None,
                                                                     obj=access, meta=NO_CSRF))
    return {
        "customer": customer,
        "accesses": accesses,
        "add_form": add_form,
        "row_forms": row_forms,
        "row_errors": row_errors or {},
        "action_form": ActionForm(),
    }


@bp.post("/customers/<int:customer_id>/portal-logins")
def customer_portal_logins(customer_id: int):
    customer = get_customer(current_user, customer_id)
    action = request.form.get("action", "")
    access = None
    if "access_id" in request.form:
        access_id = parse_id(request.form["access_id"])
        access = portal_access.get_access(customer, access_id) if access_id else None
        if access is None:
            abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    if action == "portal_off" or (action == "login_off" and access):
        if not confirmations.confirmed():
            return _ask_first(customer, access)
    add_form = PortalLoginForm(prefix="add", meta=NO_CSRF) if action == "add" else None
    row_forms, row_errors = {}, {}

    def change():
        if action == "add":
            if not add_form.validate():
                raise DomainError(add_form.email.errors[0], field="email")
            portal_access.add_login(current_user, customer, add_form.email.data)
        elif action in ("login_on", "login_off") and access:
            portal_access.set_login(current_user, customer, access, action == "login_on")
        elif action == "resend" and access:
            portal_access.resend_invitation(current_user, customer, access)
        elif action == "change_email" and access:
            form = row_forms[("email", access.id)] = PortalLoginForm(prefix=f"e{access.id}", meta=NO_CSRF)
            if not form.validate():
                raise DomainError(form.email.errors[0], field="email")
            portal_access.change_login_email(current_user, customer, access, form.email.data)
        elif action == "notifications" and access:
            form = PortalNotifyForm(prefix=f"n{access.id}", meta=NO_CSRF)
            portal_access.set_notifications(current_user, access, notify=form.notify.data,
                                            invoice=form.notify_invoice.data, account=form.notify_account.data)
        elif action in ("portal_on", "portal_off"):
            portal_access.set_customer_portal_access(current_user, customer, action == "portal_on")
        else:
            abort(400)

    done = commit_change(change)
    status = 200 if done else 422
    if done:
        add_form, row_forms = None, {}  # the section shows what is saved
    elif action == "add":
        add_form.email.errors = [done.error.message]
    elif access is not None:
        row_errors[access.id] = done.error.message
    if is_fragment_request():
        return render("admin/customers/info.html", block="portal_logins", status=status,
                      **section_context(customer, add_form, row_forms, row_errors))
    if status == 422:
        flash(next(iter(row_errors.values()), None) or add_form.email.errors[0], "error")
    return redirect(url_for("admin.customer_info", customer_id=customer.id) + "#portal-logins-h")


def _ask_first(customer, access):
    """Portal access off, or one login off: say who is locked out before doing it."""
    name = customer.display_name
    if access is None:
        title = _("Turn portal access off for %(name)s?", name=name)
        consequences = [
            _("No portal login of %(name)s gets in any more, including anyone logged in right now.", name=name),
            _("The logins are kept: turning portal access on again lets them in again."),
        ]
        yes, fields = _("Yes, turn portal access off"), {"action": "portal_off"}
    else:
        email = access.user.email
        title = _("Turn off the login %(email)s?", email=email)
        consequences = [
            _("%(email)s can no longer open the portal of %(name)s, from their next click on, "
              "even if logged in right now.", email=email, name=name),
            _("An invitation that was not accepted yet stops working. Turning the login on again "
              "sends a new invitation if it is needed."),
        ]
        yes, fields = _("Yes, turn the login off"), {"action": "login_off", "access_id": str(access.id)}
    return confirmations.ask(
        title=title, consequences=consequences, yes=yes, fields=fields,
        action=url_for("admin.customer_portal_logins", customer_id=customer.id),
        cancel=url_for("admin.customer_info", customer_id=customer.id, _anchor="portal-logins-h"),
        hx_target="#portal-logins", heading_id="portal-logins-h",
    )
