"""Staff decide instalment plans (Approve / Decline a pending one, Cancel a running one)
from the customer Overview, which also lists the customer's unanswered questions.

A plan is looked up through `get_plan`, which applies the staff member's customer
visibility: an employee not assigned to the customer gets a 404, whatever the id.
Every POST is CSRF-checked (CSRFProtect) before the view runs. The Overview slot
(templates/admin/customers/_dossier_activity.html) gets its data from `dossier_activity`:
two statements, however many questions or plans there are.
"""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp, confirmations
from models.formatting import format_currency
from models.services import instalments as plans
from models.services.access import get_customer
from models.services import questions
from web.transaction import commit_change


@bp.context_processor
def _instalment_helpers():
    return {"plan_status_label": plans.status_label}


def _decide(plan_id: int, action, done: str):
    """Look the plan up with the staff member's visibility, decide, commit, back to the Overview."""
    plan = plans.get_plan(current_user, plan_id)
    if commit_change(lambda: action(current_user, plan), flash_error=True):
        flash(done, "success")
    return redirect(url_for("admin.customer_overview", customer_id=plan.customer_id, _anchor="dossier-activity-h"))


@bp.post("/instalment-plans/<int:plan_id>/approve")
def instalment_plan_approve(plan_id: int):
    return _decide(plan_id, plans.approve,
                   _("The instalment plan was approved; the customer gets the schedule by e-mail."))


@bp.post("/instalment-plans/<int:plan_id>/decline")
def instalment_plan_decline(plan_id: int):
    if not confirmations.confirmed():
        plan = plans.get_plan(current_user, plan_id)
        customer = get_customer(current_user, plan.customer_id)
        return confirmations.ask(
            title=_("Decline the instalment plan of %(name)s?", name=customer.display_name),
            consequences=[
                _("%(name)s asked to pay %(total)s in %(num)s instalments. They are told by e-mail that the plan "
                  "was declined, and reminders for its invoices start again.", name=customer.display_name,
                  total=format_currency(plan.total, plan.currency), num=plan.count),
                _("A declined plan cannot be approved later: the customer would have to ask for a new one."),
            ],
            yes=_("Yes, decline the plan"),
            action=url_for("admin.instalment_plan_decline", plan_id=plan.id),
            cancel=url_for("admin.customer_overview", customer_id=plan.customer_id, _anchor="dossier-activity-h"),
        )
    return _decide(plan_id, plans.decline, _("The instalment plan was declined; the customer is told by e-mail."))


@bp.post("/instalment-plans/<int:plan_id>/cancel")
def instalment_plan_cancel(plan_id: int):
    return _decide(plan_id, plans.cancel, _("The instalment plan was cancelled; the customer is told by e-mail."))
