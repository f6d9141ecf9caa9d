"""API keys for the REST API (/admin/settings/api-keys): the owner's alone.

A key reads and (with the write scope) changes every customer and document, beyond what
any staff role may: so only the owner makes and revokes them, not admins or employees
(who get 403). The secret is shown once, in the answer to the POST that made it, never
through a redirect (a flash message would put it in the session cookie).
"""

from __future__ import annotations

from functools import wraps

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import RadioField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from admin import bp
from admin.forms import DeleteForm
from models.api_keys import ApiKey
from models.db import db
from models.services import api_keys
from models.staff import StaffRole
from web.forms import AppForm, options
from web.rendering import render
from web.transaction import commit_change


class ApiKeyForm(AppForm):
    name = StringField(_l("Name"), description=_l("What uses it, e.g. the accounting package."),
                       validators=[DataRequired(message=_l("Name the key after what uses it.")), Length(max=80)])
    scopes = RadioField(_l("Access"), choices=options([("read", _l("Read only")),
                                                       ("write", _l("Read and write"))]), default="read")
    submit = SubmitField(_l("Make key"))


def owner_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_user.role != StaffRole.owner:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.route("/settings/api-keys", methods=["GET", "POST"])
@owner_required
def api_keys_page():
    form = ApiKeyForm()
    secret = None
    if form.validate_on_submit():
        scopes = ["read", "write"] if form.scopes.data == "write" else ["read"]
        outcome = commit_change(lambda: api_keys.create_key(current_user, form.name.data, scopes), form)
        if outcome:
            secret = outcome.value[1]
            form = ApiKeyForm(formdata=None)
    return render("admin/api_keys.html", form=form, revoke_form=DeleteForm(), keys=api_keys.keys(), secret=secret,
                  status=422 if request.method == "POST" and secret is None else 200)


@bp.post("/settings/api-keys/<int:key_id>/revoke")
@owner_required
def api_key_revoke(key_id: int):
    key = db.session.get(ApiKey, key_id)
    if key is None:
        abort(404)
    if DeleteForm().validate_on_submit():
        commit_change(lambda: api_keys.revoke_key(current_user, key))
        flash(_("The key was revoked: requests with it are refused from now on."), "success")
    return redirect(url_for("admin.api_keys_page"))
