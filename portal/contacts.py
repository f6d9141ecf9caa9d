"""The portal's Contacts page: the logged-in customer manages their own contact persons
with the same inline rows and the same rules as the staff (web.contact_views)."""

from __future__ import annotations

from flask import g

from models.services import contacts as contact_service
from portal import auth, bp
from web import contact_views


def _load():
    context = g.portal_context  # set by auth.login_required: the session proved this customer
    scope = contact_service.Scope(customer_id=context.customer.id, customer=context.customer)
    return scope, contact_service.Actor(portal_user=context.user), {}


def _page(owner, contacts_context: dict, status: int = 200):
    return auth.page("portal/contacts.html", context=g.portal_context, status=status, **contacts_context)


def _with_login(view):
    """auth.login_required passes the context positionally; the contact views take kwargs."""
    wrapped = auth.login_required(lambda context, *args, **kwargs: view(*args, **kwargs))
    wrapped.__name__ = view.__name__
    return wrapped


contact_views.mount(bp, "/portal/contacts", "contacts", load=_load, page=_page, decorators=(_with_login,))
