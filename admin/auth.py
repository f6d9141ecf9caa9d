"""Staff login and logout."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp
from admin.forms import LoginForm
from models.db import db
from models.services import staff as staff_service
from web import auth
from web.extensions import limiter
from web.rendering import is_safe_next, render


def _login_email() -> str:
    return "staff-login:" + (request.form.get("email") or "").strip().lower()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_login_email, methods=["POST"])
def login():
    next_url = request.values.get("next")
    if not is_safe_next(next_url):
        next_url = None
    if current_user.is_authenticated:
        return redirect(next_url or url_for("admin.customers"))
    form = LoginForm()
    if form.validate_on_submit():
        user = staff_service.authenticate(form.email.data, form.password.data)
        if user is not None:
            db.session.commit()
            auth.start_session(user)
            return redirect(next_url or url_for("admin.customers"))
        form.form_errors.append(_("The e-mail address or password is not correct."))
    status = 422 if request.method == "POST" else 200
    return render("admin/login.html", form=form, next_url=next_url, status=status)


@bp.post("/logout")
def logout():
    """Ends this and every other session of the user (their session epoch moves on)."""
    staff_service.end_sessions(current_user)
    db.session.commit()
    auth.end_session()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("admin.login"))
