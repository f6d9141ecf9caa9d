"""/d/<token>: the dossier a debtor opens from an e-mail or letter, without a login.

Every route here starts with `open_dossier(token)`: unknown, revoked and forged tokens
all get the same 404, lookups are rate-limited per IP, and a document is only ever looked
up together with the link's own customer (an invoice id in the URL proves nothing).
Pay, questions and instalment routes (portal/dossier_*.py) use the same entry point.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, abort, current_app, g, make_response, redirect, request, session, url_for
from flask_babel import gettext as _

from models import clock
from models.customers import Customer
from models.db import db
from models.documents import Document, DocumentKind
from models.dossier import DossierLink
from models.services import document_pdf, dossier, instalments, provided_email, questions, quotes
from models.settings import BusinessSettings
from portal import bp
from portal.forms import DossierCheckForm, ProvideEmailForm
from web.extensions import limiter
from web.errors import MAX_ID, error_page
from web.rendering import render
from web.transaction import commit_change

_PAGE = "portal/dossier.html"
_VERIFIED = "dossier_verified"  # session: public ids of links whose check was passed
dossier_limit = limiter.shared_limit(lambda: current_app.config["DOSSIER_LIMIT_PER_IP"], scope="dossier")


@dataclass
class Dossier:
    token: str
    link: DossierLink
    customer: Customer
    settings: BusinessSettings
    running_plan_id: int | None = None

    @property
    def verified(self) -> bool:
        """No check applies, or this session passed it for this link."""
        return (not dossier.needs_check(self.settings.dossier_check, self.customer.postal_code)
                or self.link.public_id in session.get(_VERIFIED, ()))


def open_dossier(token: str, *, verified: bool = True) -> Dossier:
    """The link's dossier, or a 404; with `verified` the check must have been passed
    (else the debtor is sent to the page, which asks for it)."""
    found = dossier.resolve(token)
    if found is None:
        abort(404)
    g.customer_language = found.customer.language
    opened = Dossier(token, found.link, found.customer, found.settings, found.running_plan_id)
    if verified and not opened.verified:
        abort(redirect(url_for("portal.dossier_page", token=token)))
    return opened


def invoice_of(opened: Dossier, invoice_id: int) -> Document:
    """The link's own customer's released invoice, else 404 (ids from forms included)."""
    invoice = (dossier.released_invoice(opened.customer, invoice_id, opened.settings)
               if 0 < invoice_id <= MAX_ID else None)
    if invoice is None:
        abort(404)
    return invoice


def document_of(opened: Dossier, document_id: int) -> Document:
    """The link's own customer's document of any kind, if it is released, of a kind the
    settings release and neither a draft nor cancelled; else 404."""
    document = (dossier.released_document(opened.customer, document_id, opened.settings)
                if 0 < document_id <= MAX_ID else None)
    if document is None:
        abort(404)
    return document


def private(response):
    """Nothing of a dossier is cached, indexed or leaked through the Referer header."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(opened: Dossier, *, check_form=None, email_form=None, status: int = 200):
    today = clock.today()
    context = {"dossier": opened, "customer": opened.customer, "business": opened.settings,
               "token": opened.token, "check_form": check_form, "email_form": email_form, "today": today}
    if opened.verified:
        context.update(_documents(opened, email_form))
    elif check_form is None:
        context["check_form"] = _check_form(opened)
    return private(render(_PAGE, status=status, **context))


def _documents(opened: Dossier, email_form=None) -> dict:
    """What a verified visitor sees: the invoices, a running plan, the e-mail address form."""
    listed = dossier.invoices(opened.customer)
    context = {"invoices": listed.open, "outstanding": listed.outstanding, "paid": listed.paid}
    if listed.open and opened.running_plan_id and opened.settings.allow_instalments:
        context["plan"] = instalments.running_plan(opened.customer)
    if email_form is None and provided_email.is_wanted(opened.customer):
        context["email_form"] = ProvideEmailForm()
    return context


def _check_form(opened: Dossier) -> DossierCheckForm:
    form = DossierCheckForm()
    if opened.settings.dossier_check == "customer_number":
        form.answer.label.text = _("Customer number")
    return form


@bp.get("/d/<token>")
@dossier_limit
def dossier_page(token: str):
    """The dossier; staff see when it was last opened (written with this request)."""
    opened = open_dossier(token, verified=False)
    response = _page(opened)
    if opened.verified:
        dossier.record_opened(opened.link)
    db.session.commit()
    return response


def _link_key() -> str:
    """The link's public part: guesses at one link's postal code are counted from every
    address together."""
    return "dossier-check:" + (request.view_args or {}).get("token", "").partition(".")[0]


@bp.post("/d/<token>/check")
@dossier_limit
@limiter.limit(lambda: current_app.config["DOSSIER_CHECK_LIMIT_PER_LINK"], key_func=_link_key,
               deduct_when=lambda response: response.status_code == 422)
def dossier_check(token: str):
    opened = open_dossier(token, verified=False)
    form = _check_form(opened)
    if form.validate_on_submit():
        if dossier.check_passes(opened.settings, opened.customer, form.answer.data):
            session[_VERIFIED] = [*session.get(_VERIFIED, [])[-9:], opened.link.public_id]
            return redirect(url_for("portal.dossier_page", token=token))
        form.answer.errors.append(_("This does not match our records. Check the letter or invoice."))
    return _page(opened, check_form=form, status=422)


@bp.post("/d/<token>/email")
@dossier_limit
def dossier_email(token: str):
    opened = open_dossier(token)
    form = ProvideEmailForm()
    if form.validate_on_submit() and commit_change(lambda: provided_email.provide(opened.customer, form.email.data), form):
        return redirect(url_for("portal.dossier_page", token=token, _anchor="email-h"))
    return _page(opened, email_form=form, status=422)


# --- one document: its page, printable, and its PDF -------------------------------------


def document_context(opened: Dossier, document: Document, **extra) -> dict:
    """What the document's page shows: the document itself as printed (in its own
    language), its status, and for an invoice the Pay button and the questions."""
    today = clock.today()
    sheet = document_pdf.build_sheet(document, opened.settings, opened.customer)
    is_invoice = document.kind == DocumentKind.invoice
    if document.is_overdue(today):
        status = "overdue"
    elif quotes.is_expired(document, today):
        status = "expired"
    else:
        status = document.status.value
    context = {
        "dossier": opened, "customer": opened.customer, "business": opened.settings, "token": opened.token,
        "document": document, "invoice": document, "title": document_pdf.title_of(document),
        "sheet_body": document_pdf.render_body(sheet), "document_status": status, "today": today,
        "print_view": request.args.get("print") == "1", "thread": questions.thread(document) if is_invoice else [],
    }
    context.update(extra)
    return context


def _document_page(opened: Dossier, document: Document):
    """The page (`?print=1`: the print layout on screen); staff see "viewed"."""
    response = private(render("portal/dossier/document.html", **document_context(opened, document)))
    dossier.record_viewed(document)
    db.session.commit()
    return response


@bp.get("/d/<token>/documents/<int:document_id>")
@dossier_limit
def dossier_document(token: str, document_id: int):
    """A released document of any kind: the address its e-mail and staff's portal box give."""
    opened = open_dossier(token)
    return _document_page(opened, document_of(opened, document_id))


@bp.get("/d/<token>/invoices/<int:invoice_id>")
@dossier_limit
def dossier_invoice(token: str, invoice_id: int):
    """An invoice at the address invoice pages always had (in mails and letters already
    sent): the same page as /d/<token>/documents/<id>."""
    opened = open_dossier(token)
    return _document_page(opened, invoice_of(opened, invoice_id))


def _pdf_key() -> str:
    """Per link: one debtor's downloads, from whatever address."""
    return "dossier-pdf:" + (request.view_args or {}).get("token", "").partition(".")[0]


@bp.get("/d/<token>/documents/<int:document_id>/pdf")
@dossier_limit
@limiter.limit(lambda: current_app.config["LETTER_PDF_LIMIT"], key_func=_pdf_key)
def dossier_document_pdf(token: str, document_id: int):
    """The document as a PDF download, when the settings allow it (else 404, as for a
    document the link does not reach)."""
    opened = open_dossier(token)
    document = document_of(opened, document_id)
    if not opened.settings.allow_pdf_download:
        abort(404)
    weasyprint = document_pdf.load_weasyprint()
    if weasyprint is None:
        return private(make_response(error_page(503, _("The PDF cannot be made at the moment. Please use the print view."))))
    sheet = document_pdf.build_sheet(document, opened.settings, opened.customer)
    response = Response(document_pdf.to_pdf(weasyprint, document_pdf.render_page(sheet)), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{sheet.filename}"'
    dossier.record_viewed(document)
    db.session.commit()
    return private(response)
