"""The customer side: /portal for logged-in customers, /d/<token> dossier links."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from models.services.settings import get_settings

bp = Blueprint("portal", __name__)


@bp.get("/branding/logo")
def logo():
    """The business logo, public: portal, dossier pages and e-mails show it."""
    settings = get_settings()
    if not settings.logo:
        abort(404)
    response = Response(settings.logo, mimetype=settings.logo_content_type)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


# The customer's pages (portal/place.py registers each at /d/<token>/… and /portal/…) and
# the login area.
from portal import contacts, dossier, views  # noqa: E402,F401
from portal import dossier_instalments, dossier_questions  # noqa: E402,F401  (instalment plans; questions and quote decisions)
from portal import dossier_payments  # noqa: E402,F401  (pay, test checkout, webhooks, `payments` CLI)
from portal import statement  # noqa: E402,F401  (the account statement, /d/<token> and /portal/)
from portal import details, dossier_contacts, dossier_verify  # noqa: E402,F401  (the customer's own details; the dossier's step-up code)
from portal import contact_preferences  # noqa: E402,F401  (a contact person's own preferences and one-click unsubscribe)
