"""The logged-in staff member's own account: language and password."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp
from admin.forms import LanguageForm, PasswordChangeForm
from admin.helpers import attach_error
from models.db import db
from models.services import staff as staff_service
from models.services.errors import DomainError
from web import auth
from web.rendering import render


@bp.route("/account", methods=["GET", "POST"])
def account():
    language_form = LanguageForm(prefix="lang", obj=current_user if request.method == "GET" else None)
    password_form = PasswordChangeForm(prefix="pw")
    status = 200
    if request.method == "POST":
        if "lang-submit" in request.form and language_form.validate_on_submit():
            staff_service.set_language(current_user, language_form.language.data)
            db.session.commit()
            flash(_("Your language was saved."), "success")
            return redirect(url_for("admin.account"))
        if "pw-submit" in request.form and password_form.validate_on_submit():
            try:
                staff_service.change_password(
                    current_user, password_form.current_password.data, password_form.new_password.data
                )
            except DomainError as error:
                db.session.rollback()
                attach_error(password_form, error)
            else:
                db.session.commit()
                # This session continues under the new epoch; the others are refused.
                auth.start_session(current_user._get_current_object())
                flash(_("Your password was changed. Other sessions have been logged out."), "success")
                return redirect(url_for("admin.account"))
        status = 422
    return render("admin/account.html", language_form=language_form, password_form=password_form, status=status)
