"""/d/<token>/verify: the one-time code a dossier visitor enters before changing who
receives what (contact persons) or asking for an instalment plan.

Whoever holds a dossier link can open it, and a contact person in CC of the customer's
mail holds it too. So changes that decide who receives the customer's mail, and plan
requests, first need a code sent to the customer's primary address (To that address
alone, never CC). A code entered once lets this browser session make such changes for
STEP_UP_VALID (kept in the signed session, per link): the visitor is not asked again for
every contact row saved. The codes themselves live in models.services.one_time_codes
(6 digits, 15 minutes, 5 tries).
"""

from __future__ import annotations

import time

from flask import abort, flash, make_response, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from models.one_time_codes import CodePurpose
from models.services import one_time_codes
from portal import bp

from portal.place import CustomerPlace, dossier_limit, from_link, private
from web.forms import AppForm
from web.rendering import is_fragment_request, is_safe_next, render
from web.transaction import attach_error, commit_change

_STEP_UP = "dossier_step_up"  # session: {link public id: until (Unix time)}
STEP_UP_VALID = 15 * 60


class SendCodeForm(AppForm):
    submit = SubmitField(_l("Send me a code"))


class CodeForm(AppForm):
    code = StringField(_l("Code from the e-mail"), validators=[
        DataRequired(message=_l("Enter the code from the e-mail.")), Length(max=20)])
    submit = SubmitField(_l("Confirm"))


def masked(address: str | None) -> str:
    """An address as the page shows it to whoever holds the link: "a•••@example.com"."""
    if not address or "@" not in address:
        return ""
    local, _at, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def _now() -> float:
    return time.time()


def stepped_up(opened: CustomerPlace) -> bool:
    until = session.get(_STEP_UP, {}).get(opened.link.public_id)
    return isinstance(until, (int, float)) and until > _now()


def _remember(opened: CustomerPlace) -> None:
    now = _now()
    kept = {key: until for key, until in session.get(_STEP_UP, {}).items() if until > now}
    kept = dict(sorted(kept.items(), key=lambda item: item[1])[-9:])
    session[_STEP_UP] = {**kept, opened.link.public_id: int(now) + STEP_UP_VALID}


def verify_url(opened: CustomerPlace, next_url: str) -> str:
    return url_for("portal.dossier_verify", token=opened.token, next=next_url)


def require_step_up(opened: CustomerPlace, next_url: str) -> None:
    """Go on only if this session entered a code for this link within STEP_UP_VALID; else
    off to the code page, which comes back to `next_url` (an HTMX row: the whole page goes)."""
    if stepped_up(opened):
        return
    target = verify_url(opened, next_url)
    if is_fragment_request():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        abort(response)
    abort(redirect(target))


def _next(opened: CustomerPlace) -> str:
    """Where to go after the code: a page of this link only, else the dossier."""
    target = request.args.get("next") or ""
    if is_safe_next(target) and target.startswith(f"/d/{opened.token}/"):
        return target
    return url_for("portal.dossier_page", token=opened.token)


def _page(opened: CustomerPlace, *, code_form=None, status: int = 200):
    waiting = one_time_codes.waiting(opened.customer, CodePurpose.dossier)
    return private(render(
        "portal/details/verify.html", status=status, dossier=opened, customer=opened.customer,
        business=opened.settings, token=opened.token, next_url=_next(opened), address=masked(opened.customer.email),
        send_form=SendCodeForm(formdata=None), code_form=code_form or CodeForm(formdata=None), waiting=waiting,
        already=stepped_up(opened),
    ))


@bp.route("/d/<token>/verify", methods=["GET", "POST"])
@dossier_limit
def dossier_verify(token: str):
    """GET: what the code is for and the buttons; POST: the code entered."""
    opened = from_link(token)
    if request.method == "GET":
        return _page(opened)
    form = CodeForm()
    if form.validate_on_submit():
        outcome = commit_change(lambda: one_time_codes.redeem_code(opened.customer, CodePurpose.dossier, form.code.data),
                                form)
        if outcome and outcome.value:
            _remember(opened)
            flash(_("Thank you. You can make changes for the next 15 minutes."), "success")
            return redirect(_next(opened))
        if outcome:  # the try was counted and committed; the code was not right
            attach_error(form, outcome.value.error)
    return _page(opened, code_form=form, status=422)


@bp.post("/d/<token>/verify/send")
@dossier_limit
def dossier_verify_send(token: str):
    opened = from_link(token)
    if SendCodeForm().validate_on_submit():
        sent = commit_change(lambda: one_time_codes.issue_code(opened.customer, CodePurpose.dossier), flash_error=True)
        if sent:
            flash(_("We sent a code to %(address)s. It works for 15 minutes.", address=masked(opened.customer.email)),
                  "success")
    return redirect(url_for("portal.dossier_verify", token=token, next=_next(opened), _anchor="code-h"))
