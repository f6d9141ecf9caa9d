"""The customer side: /portal for logged-in customers, /d/<token> dossier links."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from models.services.settings import get_settings
from web.rendering import render

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


@bp.get("/portal/")
def home():
    return render("portal/home.html")


from portal import dossier  # noqa: E402,F401  (registers /d/<token>)
