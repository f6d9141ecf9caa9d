"""One customer place, two ways in.

Every customer-facing page (overview, documents, one document with its PDF, questions and
quote decision, paying, the statement, instalment plans) is one view and one template. It
is registered twice by `route`: under the dossier link, `/d/<token>/…`, and under the
login, `/portal/…`. The entry point decides only who the customer is and what they may do,
and hands the view a `CustomerPlace`:

- the dossier link: `dossier.resolve(token)` (unknown, revoked and forged tokens all get the
  same 404; lookups are rate limited per IP; the optional postal-code / customer-number
  check must have been passed);
- the login: the portal session (`portal.auth.load`) with an open account; without one the
  visitor goes to the login page or the account switcher.

A view never reads a customer id from the request: documents, payments and plans are only
ever looked up together with `place.customer`, so an id in a URL proves nothing. Links
between the pages are built with `place.url(page, …)`, which stays within the way in.
Every response of the place is private (no-store, no Referer, noindex).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import abort, current_app, g, make_response, redirect, request, session, url_for

from models.customers import Customer
from models.documents import Document
from models.dossier import DossierLink
from models.services import dossier
from models.services.settings import get_settings
from models.settings import BusinessSettings
from portal import auth, bp
from web.errors import MAX_ID
from web.extensions import limiter
from web.rendering import render

VERIFIED = "dossier_verified"  # session: public ids of links whose check was passed
dossier_limit = limiter.shared_limit(lambda: current_app.config["DOSSIER_LIMIT_PER_IP"], scope="dossier")

# page name → (login endpoint, link endpoint), filled by `route`.
ENDPOINTS: dict[str, tuple[str | None, str | None]] = {}


@dataclass
class CustomerPlace:
    """Who the customer is and how they came in. `token` is set for a dossier link, `login`
    (the portal session) for a login."""

    customer: Customer
    settings: BusinessSettings
    token: str | None = None
    link: DossierLink | None = None
    login: auth.PortalContext | None = None
    # The link's one query also says whether a plan runs; a login does not know (None).
    running_plan_id: int | None = None

    @property
    def by_link(self) -> bool:
        return self.token is not None

    @property
    def layout(self) -> str:
        """The dossier's branding (no login) or the portal's navigation and account bar."""
        return "portal/dossier/layout.html" if self.by_link else "portal/layout.html"

    @property
    def verified(self) -> bool:
        """A login is proof enough; a link needs the check, when one applies, passed in this session."""
        if not self.by_link:
            return True
        return (not dossier.needs_check(self.settings.dossier_check, self.customer.postal_code)
                or self.link.public_id in session.get(VERIFIED, ()))

    def endpoint(self, page: str) -> str:
        login, link = ENDPOINTS[page]
        endpoint = link if self.by_link else login
        if endpoint is None:
            raise LookupError(f"{page} has no {'link' if self.by_link else 'login'} route")
        return "portal." + endpoint

    def has(self, page: str) -> bool:
        """Whether this way in has the page (the check is the link's own, for instance)."""
        return ENDPOINTS[page][1 if self.by_link else 0] is not None

    def url(self, name: str, /, **values) -> str:
        """The address of the page `name` within this way in (`page=2` is a query value)."""
        if self.by_link:
            values["token"] = self.token
        return url_for(self.endpoint(name), **values)

    def prefix(self, name: str, /) -> str:
        """A page's URL without its trailing id (the id 0 cut off): a list of rows appends
        each row's id to it, instead of building every URL (url_for per row costs)."""
        return self.url(name, **{_ID_OF[name]: 0})[:-1]

    def is_current(self, *pages: str) -> bool:
        return any(request.endpoint == self.endpoint(p) for p in pages if self.has(p))

    def render(self, template: str, status: int = 200, **context):
        """A page of the place: what every page's layout needs, then the page's own context."""
        base = {
            "place": self, "customer": self.customer, "business": self.settings,
            "business_name": self.settings.business_name, "context": self.login, "token": self.token,
        }
        return render(template, status=status, **{**base, **context})


_ID_OF = {"document": "document_id"}


def private(response):
    """Nothing of a customer's place is cached, indexed or leaked through the Referer header."""
    response = make_response(response)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response


def from_link(token: str, *, verified: bool = True) -> CustomerPlace:
    """The link's place, or a 404; with `verified` the check must have been passed (else the
    visitor is sent to the dossier page, which asks for it)."""
    found = dossier.resolve(token)
    if found is None:
        abort(404)
    g.customer_language = found.customer.language
    place = CustomerPlace(found.customer, found.settings, token=token, link=found.link,
                          running_plan_id=found.running_plan_id)
    if verified and not place.verified:
        abort(redirect(url_for("portal.dossier_page", token=token)))
    return place


def from_login() -> CustomerPlace:
    """The logged-in customer's place; else a redirect to the login or the switcher (raised)."""
    context = auth.load()
    if context is None:
        abort(redirect(auth.login_url()))
    if context.customer is None:
        abort(redirect(url_for("portal.accounts")))
    g.customer_language = context.customer.language
    return CustomerPlace(context.customer, get_settings(), login=context)


def route(rule: str, page: str, *, methods=("GET",), login: str | None = "", link: str | None = "",
          verified: bool = True, link_decorators=(), login_decorators=()):
    """Register `view(place, **url_values)` as the page `page`, at `/d/<token>{rule}` (endpoint
    `dossier_<page>` unless `link` names it; None: no link route) and at `/portal{rule}`
    (endpoint `<page>` unless `login` names it; None: no login route)."""
    login_endpoint = None if login is None else (login or page)
    link_endpoint = None if link is None else (link or f"dossier_{page}")

    def decorator(view):
        ENDPOINTS[page] = (login_endpoint, link_endpoint)
        if link_endpoint is not None:
            def by_link(token: str, **values):
                return private(view(from_link(token, verified=verified), **values))

            by_link.__name__ = by_link.__qualname__ = link_endpoint
            by_link.__module__ = view.__module__
            wrapped = dossier_limit(by_link)
            for decorate in link_decorators:
                wrapped = decorate(wrapped)
            bp.add_url_rule(f"/d/<token>{rule}", link_endpoint, wrapped, methods=list(methods))
        if login_endpoint is not None:
            def by_login(**values):
                return private(view(from_login(), **values))

            by_login.__name__ = by_login.__qualname__ = login_endpoint
            by_login.__module__ = view.__module__
            wrapped = by_login
            for decorate in login_decorators:
                wrapped = decorate(wrapped)
            bp.add_url_rule(f"/portal{rule or '/'}", login_endpoint, wrapped, methods=list(methods))
        return view

    return decorator


def alias(rule: str, endpoint: str, page_view, *, methods=("GET",), verified: bool = True, **defaults):
    """Another link address for a page (addresses printed on letters and in old mails)."""

    @wraps(page_view)
    def by_link(token: str, **values):
        return private(page_view(from_link(token, verified=verified), **values, **defaults))

    by_link.__name__ = by_link.__qualname__ = endpoint
    bp.add_url_rule(f"/d/<token>{rule}", endpoint, dossier_limit(by_link), methods=list(methods))


# --- what a place reaches ---------------------------------------------------------------------


def document_of(place: CustomerPlace, document_id: int) -> Document:
    """The place's own customer's document of any kind, if it is released, of a kind the
    settings release and neither a draft nor cancelled; else 404."""
    document = (dossier.released_document(place.customer, document_id, place.settings)
                if 0 < document_id <= MAX_ID else None)
    if document is None:
        abort(404)
    return document


def invoice_of(place: CustomerPlace, invoice_id: int) -> Document:
    """The place's own customer's released invoice, else 404 (ids from forms included)."""
    invoice = (dossier.released_invoice(place.customer, invoice_id, place.settings)
               if 0 < invoice_id <= MAX_ID else None)
    if invoice is None:
        abort(404)
    return invoice


def invoices_of(place: CustomerPlace, invoice_ids: list[int]) -> list[int]:
    """The ids, if every one is a released invoice of the place's customer; else 404."""
    wanted = sorted(set(invoice_ids))
    if not wanted or any(not 0 < i <= MAX_ID for i in wanted):
        abort(404)
    if dossier.released_invoice_ids(place.customer, wanted, place.settings) != wanted:
        abort(404)
    return wanted


def key_per_place(prefix: str):
    """A rate-limit key per customer place: the link's public part, or the login's open account."""

    def key() -> str:
        token = (request.view_args or {}).get("token")
        if token is not None:
            return f"{prefix}:link:{token.partition('.')[0]}"
        return f"{prefix}:login:{(session.get(auth.KEY) or {}).get('c')}"

    return key
