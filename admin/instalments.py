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

from admin import bp
from models.services import instalments as plans
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
    return _decide(plan_id, plans.decline, _("The instalment plan was declined; the customer is told by e-mail."))


@bp.post("/instalment-plans/<int:plan_id>/cancel")
def instalment_plan_cancel(plan_id: int):
    return _decide(plan_id, plans.cancel, _("The instalment plan was cancelled; the customer is told by e-mail."))
