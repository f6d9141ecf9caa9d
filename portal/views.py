"""The customer portal's login area: login, invitations, password reset, the account
switcher and e-mail preferences. The customer's pages themselves (/portal/, documents,
paying, …) are the same views the dossier link serves: portal/place.py."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from flask import current_app, flash, g, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from models.customers import Customer
from models.db import db
from models.services import portal_access
from portal import auth, bp
from portal.forms import (AcceptForm, ActionForm, ForgotForm, LoginForm, NewPasswordForm, NotificationForm,
                          PasswordChangeForm)
from web.errors import parse_id
from web.extensions import limiter
from web.rendering import finish, is_fragment_request, is_safe_next, render
from web.transaction import commit_change

def _is_portal_path(target: str | None) -> bool:
    """A local /portal/… path; no dot segments (a browser resolves "/portal/../admin" to /admin)."""
    if not is_safe_next(target):
        return False
    segments = unquote(urlsplit(target).path).split("/")
    return segments[:2] == ["", "portal"] and not any(s in (".", "..") for s in segments)


def _account_key() -> str:
    return "portal-login:" + (request.form.get("email") or "").strip().lower()


@bp.route("/portal/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_account_key, methods=["POST"])
def login():
    next_url = request.values.get("next")
    next_url = next_url if _is_portal_path(next_url) else None
    form = LoginForm()
    if form.validate_on_submit():
        user = portal_access.authenticate(form.email.data, form.password.data)
        accounts = portal_access.open_accounts(user) if user else []
        if user is not None and not accounts:
            db.session.rollback()
            form.form_errors.append(_("Your login has no account you can open at the moment."))
            return auth.page("portal/login.html", form=form, next_url=next_url, status=403)
        if user is not None:
            only = accounts[0] if len(accounts) == 1 else None
            portal_access.record_login(user, only[0] if only else None)
            db.session.commit()
            auth.start(user)
            if only:
                auth.open_customer(only[1].id)
                return redirect(next_url or url_for("portal.home"))
            return redirect(url_for("portal.accounts"))
        db.session.rollback()
        form.form_errors.append(_("The e-mail address or password is not correct."))
    return auth.page("portal/login.html", form=form, next_url=next_url,
                  status=422 if request.method == "POST" else 200)


@bp.post("/portal/logout")
def logout():
    context = auth.load()
    if context is not None and ActionForm().validate_on_submit():
        portal_access.end_sessions(context.user)
        db.session.commit()
    auth.end()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("portal.login"))


@bp.route("/portal/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_account_key, methods=["POST"])
def forgot():
    form = ForgotForm()
    if form.validate_on_submit():
        portal_access.request_password_reset(form.email.data, language=str(get_locale()))
        db.session.commit()
        # The same answer whether or not the address has a login (no enumeration).
        flash(_("If this address has a login, we have sent it a link to choose a new password."), "info")
        return redirect(url_for("portal.login"))
    return auth.page("portal/forgot.html", form=form, status=422 if request.method == "POST" else 200)


@bp.route("/portal/reset/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"])
def reset(token: str):
    if request.method == "GET" and not portal_access.reset_link_works(token):
        # Said at once, not after a new password was typed twice.
        return auth.page("portal/reset_invalid.html", status=404)
    form = NewPasswordForm()
    if form.validate_on_submit() and commit_change(lambda: portal_access.reset_password(token, form.password.data), form):
        flash(_("Your password was changed. Log in with the new password."), "success")
        return redirect(url_for("portal.login"))
    return auth.page("portal/reset.html", form=form, status=422 if request.method == "POST" else 200)


@bp.route("/portal/invite/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["DOSSIER_LIMIT_PER_IP"])
def accept(token: str):
    access, problem = portal_access.invitation_for(token)
    if access is None:
        return auth.page("portal/invitation_invalid.html", problem=problem, status=410 if problem == "expired" else 404)
    g.customer_language = db.session.get(Customer, access.customer_id).language
    new_login = access.user.password_hash is None
    form = AcceptForm()
    if form.validate_on_submit():
        accepted = commit_change(lambda: portal_access.accept_invitation(
            token, form.password.data if new_login else None, record_login=new_login), form)
        if accepted and not new_login:
            # The link proves the address, not the person: an existing login still
            # signs in with its own password.
            flash(_("The account was added to your login. Log in with your password."), "success")
            return redirect(url_for("portal.login"))
        if accepted:
            auth.start(accepted.value)
            auth.open_customer(access.customer_id)
            flash(_("Welcome! Your login is active."), "success")
            return redirect(url_for("portal.home"))
    return auth.page("portal/accept.html", form=form, access=access, new_login=new_login,
                  status=422 if request.method == "POST" else 200)


@bp.route("/portal/accounts", methods=["GET", "POST"])
def accounts():
    context = auth.load()
    if context is None:
        return redirect(url_for("portal.login"))
    if context.customer is not None:  # its navigation and account bar: the open account's language
        g.customer_language = context.customer.language
    accounts = portal_access.open_accounts(context.user)
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        chosen = parse_id(request.form.get("customer_id"))
        opened = portal_access.open_account(context.user, chosen) if chosen else None
        if opened is None:
            return render("error.html", status=404, message=_("This page does not exist, or you do not have access to it."))
        portal_access.record_login(context.user, opened[0])
        db.session.commit()
        auth.open_customer(opened[1].id)
        return redirect(url_for("portal.home"))
    return auth.page("portal/accounts.html", accounts=accounts, context=context, form=form)


@bp.route("/portal/preferences", methods=["GET", "POST"])
@auth.login_required
def preferences(context):
    access = context.access
    form = NotificationForm(obj=access if request.method == "GET" else None)
    if form.validate_on_submit():
        portal_access.set_notifications(None, access, notify=form.notify.data,
                                        invoice=form.notify_invoice.data, account=form.notify_account.data)
        db.session.commit()
        flash(_("Your preferences were saved."), "success")
        return redirect(url_for("portal.preferences"))
    return auth.page("portal/preferences.html", context=context, form=form)


@bp.route("/portal/password", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"])
@auth.login_required
def password(context):
    form = PasswordChangeForm()
    if form.validate_on_submit() and commit_change(lambda: portal_access.change_password(
            context.user, form.current_password.data, form.new_password.data, customer_id=context.customer.id), form):
        auth.renew(context.user)  # this browser stays logged in; every other session has ended
        flash(_("Your password was changed. Other sessions have been logged out."), "success")
        return redirect(url_for("portal.password"))
    return auth.page("portal/password.html", context=context, form=form,
                     status=422 if request.method == "POST" else 200)


@bp.post("/portal/account-bar/dismiss")
@auth.login_required
def account_bar_dismiss(context):
    """Hide the account bar (a plain form; with HTMX the bar is replaced by nothing)."""
    auth.hide_account_bar(context.customer.id)  # CSRF: checked for every POST (web.extensions.csrf)
    if is_fragment_request():
        return finish("", 200)
    next_url = request.form.get("next")
    return redirect(next_url if _is_portal_path(next_url) else url_for("portal.home"), code=303)
