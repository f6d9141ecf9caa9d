"""The staff blueprint: everything under /admin requires a logged-in staff member."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, request
from flask_login import current_user

bp = Blueprint("admin", __name__, url_prefix="/admin")

PUBLIC_ENDPOINTS = {"admin.login"}


@bp.before_request
def require_staff():
    from web.extensions import login_manager

    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def manager_required(view):
    """Owners and admins only: settings and staff management."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_manager:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


from admin import account, auth, customers, documents, emails, portal_logins, settings, staff  # noqa: E402,F401
from admin import document_actions, document_page  # noqa: E402,F401  (documents of every kind)
from admin import letters  # noqa: E402,F401  (printed invoice and reminder letters)
from admin import document_files  # noqa: E402,F401  (any document as print view and PDF)
from admin import einvoices  # noqa: E402,F401  (e-invoices in: UBL, CII and Factur-X uploads)
from admin import instalments, questions  # noqa: E402,F401  (answering questions, deciding instalment plans)
from admin import dashboard  # noqa: E402,F401  (the start page: money owed, payments, attention)
from admin import bank_statements  # noqa: E402,F401  (importing bank statements, booking transfers)
from admin import mailbox  # noqa: E402,F401  (mail synced from the business's mailbox, issue 21)
from admin import webhooks  # noqa: E402,F401  (outbound webhook endpoints and their deliveries)
from admin import imports  # noqa: E402,F401  (CSV import wizard and export)
from admin import dunning  # noqa: E402,F401  (automatic reminders: letter list, holds, disputes)
from admin import api_keys  # noqa: E402,F401  (keys for the REST API: the owner only)
