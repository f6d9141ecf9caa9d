"""/d/<token>/contacts: the customer's contact persons from the dossier link, with the same
inline rows and rules as the portal and the staff (web.contact_views).

A contact person in CC of the customer's mail holds the link too, so every route here
(reading the list included: it shows who receives what) first needs the one-time code
sent to the customer's primary address (portal.dossier_verify, once per session for 15
minutes). The changes are audited as made through the dossier link.
"""

from __future__ import annotations

from flask import g, url_for

from models.services import contacts as contact_service
from portal import bp
from portal.dossier_verify import require_step_up
from portal.place import dossier_limit, from_link, private
from web import contact_views
from web.rendering import render

VIA = "customer via dossier link (with a code)"


def _load(token: str):
    opened = g.dossier  # set by _with_dossier: the link proved this customer, the code the person
    scope = contact_service.Scope(customer_id=opened.customer.id, customer=opened.customer)
    return scope, contact_service.Actor(via=VIA), {"token": token}


def _page(owner, contacts_context: dict, status: int = 200):
    opened = g.dossier
    return private(render("portal/details/contacts.html", status=status, dossier=opened, customer=opened.customer,
                          business=opened.settings, token=opened.token, **contacts_context))


def _with_dossier(view):
    """The link's dossier (404 for a bad one) and the step-up, before any contact route."""

    def wrapper(token: str, **kwargs):
        opened = from_link(token)
        require_step_up(opened, url_for("portal.dossier_contacts_list", token=token))
        g.dossier = opened
        return view(token=token, **kwargs)

    # Its own name: Flask-Limiter keys limits by the view's module and name, and the
    # contact views of the admin and the portal share theirs (web.contact_views).
    wrapper.__name__ = f"dossier_contacts_{view.__name__}"
    return dossier_limit(wrapper)


contact_views.mount(bp, "/d/<token>/contacts", "dossier_contacts", load=_load, page=_page,
                    decorators=(_with_dossier,))
