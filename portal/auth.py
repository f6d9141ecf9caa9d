"""Portal sessions, kept apart from staff sessions (a staff member may test the portal in
the same browser). The signed session holds the user id, their session epoch and the open
account; every request re-checks the epoch and that the access is still granted, so a
logout, a password change or a revoked LOGIN takes effect on the next request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import wraps

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l

from models.customers import Customer
from models.db import db
from models.portal_access import PortalAccess, PortalUser
from models.services import portal_access
from models.services.settings import get_settings
from web.rendering import render

KEY = "portal"


def page(template: str, **context):
    """A page of the login area: its layout shows the business's name (templates run no queries)."""
    return render(template, business_name=get_settings().business_name, **context)


@dataclass
class PortalContext:
    user: PortalUser
    access: PortalAccess | None = None
    customer: Customer | None = None
    account_bar: bool = True  # shown until dismissed for the open account (this session only)


def start(user: PortalUser) -> None:
    """A fresh session on login (no fixation): staff login, if any, is kept."""
    kept = {k: v for k, v in session.items() if k.startswith("_") or k in ("seen_at", "login_at")}
    session.clear()
    session.update(kept)
    now = int(time.time())
    session[KEY] = {"u": user.id, "e": user.session_epoch, "c": None, "t": now, "s": now}
    session.permanent = True


def open_customer(customer_id: int) -> None:
    session[KEY] = {**session[KEY], "c": customer_id}


def hide_account_bar(customer_id: int) -> None:
    """The account bar stays hidden while this account is open; another account shows it again."""
    session[KEY] = {**session[KEY], "bar": customer_id}


def renew(user: PortalUser) -> None:
    """This browser's session continues under the login's new epoch (after a password change,
    which ended every session); the open account and the CSRF token are kept."""
    session[KEY] = {**session[KEY], "e": user.session_epoch}


def end() -> None:
    session.pop(KEY, None)


def load() -> PortalContext | None:
    """The logged-in portal user and open account for this request, or None."""
    if "portal_context" in g:
        return g.portal_context
    g.portal_context = None
    data = session.get(KEY)
    if not data:
        return None
    now = int(time.time())
    idle = current_app.config["PORTAL_IDLE_TIMEOUT"].total_seconds()
    absolute = current_app.config["STAFF_ABSOLUTE_TIMEOUT"].total_seconds()  # 12 h for everyone
    if now - data.get("s", 0) > idle or now - data.get("t", 0) > absolute:
        end()
        return None
    user = db.session.get(PortalUser, data.get("u"))
    if user is None or user.session_epoch != data.get("e") or user.password_hash is None:
        end()
        return None
    context = PortalContext(user=user)
    if data.get("c"):
        opened = portal_access.open_account(user, data["c"])
        if opened is None:  # revoked, portal access off, archived: the account is gone
            open_customer(None)
        else:
            context.access, context.customer = opened
            context.account_bar = data.get("bar") != context.customer.id
    if now - data.get("s", 0) >= 30:
        session[KEY] = {**session[KEY], "s": now}
    g.portal_context = context
    return context


def login_url() -> str:
    """The login page, then back here: a page (GET) opens again after the login. A form sent
    after the session ended cannot be sent again from there (a POST address answers GET with
    405), so the login then leads to the account's home, saying why the form did not go through."""
    if request.method == "GET":
        return url_for("portal.login", next=request.full_path)
    flash(_l("Your session has ended. Please log in again."), "info")
    return url_for("portal.login")


def login_required(view):
    """A logged-in portal user with an open account (else: login, or the switcher)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        context = load()
        if context is None:
            return redirect(login_url())
        if context.customer is None:
            return redirect(url_for("portal.accounts"))
        g.customer_language = context.customer.language
        return view(context, *args, **kwargs)

    return wrapper
