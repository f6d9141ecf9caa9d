"""/d/<token>: the dossier a debtor opens from an e-mail or letter, without a login."""

from __future__ import annotations

from flask import abort, current_app, g

from models.customers import Customer
from models.db import db, now_utc
from models.services import dossier
from models.services.customers import open_invoices
from models.services.settings import get_settings
from portal import bp
from web.extensions import limiter
from web.rendering import render


@bp.get("/d/<token>")
@limiter.limit(lambda: current_app.config["DOSSIER_LIMIT_PER_IP"])
def dossier_page(token: str):
    """Unknown, revoked and forged tokens all get the same 404."""
    link = dossier.resolve(token)
    if link is None:
        abort(404)
    customer = db.session.get(Customer, link.customer_id)
    if customer is None or customer.archived_at is not None:
        abort(404)
    g.customer_language = customer.language
    invoices, outstanding = open_invoices(customer, released_only=True)
    response = render(
        "portal/dossier.html", customer=customer, invoices=invoices,
        outstanding=outstanding, business=get_settings(),
    )
    # After rendering: a commit expires every loaded object (one reload per invoice).
    link.last_opened_at = now_utc()
    db.session.commit()
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response
