"""Staff sessions that end for real.

The session stores `staff:<id>:<epoch>`; the loader refuses it once the user's epoch has
moved on (logout, password change, deactivation). Idle and absolute timeouts are read
from the signed session cookie, so checking them costs no query.
"""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user
from sqlalchemy import bindparam, select

from models.db import db
from models.staff import StaffUser
from web.extensions import login_manager

SEEN_KEY, LOGIN_KEY = "seen_at", "login_at"
# Built once: every staff request starts with it (session.get builds its query per call).
_STAFF_USER = select(StaffUser).where(StaffUser.id == bindparam("user_id"))


@login_manager.user_loader
def load_user(session_id: str):
    kind, _, rest = session_id.partition(":")
    user_id, _, epoch = rest.partition(":")
    if kind != "staff" or not user_id.isdigit() or not epoch.isdigit():
        return None
    user = db.session.scalar(_STAFF_USER, {"user_id": int(user_id)})
    if user is None or not user.active or user.session_epoch != int(epoch):
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    if request.headers.get("HX-Request"):
        # An HTMX call from an expired page: send the whole window to the login form.
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = url_for("admin.login", next=request.full_path)
        return response
    flash(_l("Please log in to continue."), "info")
    return redirect(url_for("admin.login", next=request.full_path))


def start_session(user: StaffUser) -> None:
    """Log in with a fresh session (no fixation) and start both timeout clocks.

    A portal session in the same browser (portal.auth) is kept.
    """
    portal = session.get("portal")
    session.clear()
    if portal:
        session["portal"] = portal
    login_user(user)
    now = int(time.time())
    session[LOGIN_KEY] = session[SEEN_KEY] = now
    session.permanent = True


def end_session() -> None:
    portal = session.get("portal")
    logout_user()
    session.clear()
    if portal:
        session["portal"] = portal


def enforce_timeouts() -> None:
    """before_request: drop sessions idle for too long or older than the absolute limit."""
    if "_user_id" not in session:
        return
    now = int(time.time())
    idle = current_app.config["STAFF_IDLE_TIMEOUT"].total_seconds()
    absolute = current_app.config["STAFF_ABSOLUTE_TIMEOUT"].total_seconds()
    seen, started = session.get(SEEN_KEY, 0), session.get(LOGIN_KEY, 0)
    if now - seen > idle or now - started > absolute:
        end_session()
        flash(_l("Your session has ended. Please log in again."), "info")
        return
    if now - seen >= 30:  # avoid rewriting the cookie on every request
        session[SEEN_KEY] = now
