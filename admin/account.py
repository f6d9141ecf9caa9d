"""The logged-in staff member's own account: language and password."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp
from admin.forms import LanguageForm, PasswordChangeForm
from models.services import staff as staff_service
from web import auth
from web.rendering import render
from web.transaction import commit_change


@bp.route("/account", methods=["GET", "POST"])
def account():
    language_form = LanguageForm(prefix="lang", obj=current_user if request.method == "GET" else None)
    password_form = PasswordChangeForm(prefix="pw")
    status = 200
    if request.method == "POST":
        if "lang-submit" in request.form and language_form.validate_on_submit():
            commit_change(lambda: staff_service.set_language(current_user, language_form.language.data))
            flash(_("Your language was saved."), "success")
            return redirect(url_for("admin.account"))
        if "pw-submit" in request.form and password_form.validate_on_submit() and commit_change(
                lambda: staff_service.change_password(
                    current_user, password_form.current_password.data, password_form.new_password.data),
                password_form):
            # This session continues under the new epoch; the others are refused.
            auth.start_session(current_user._get_current_object())
            flash(_("Your password was changed. Other sessions have been logged out."), "success")
            return redirect(url_for("admin.account"))
        status = 422
    return render("admin/account.html", language_form=language_form, password_form=password_form, status=status)
