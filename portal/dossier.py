"""The customer's pages, from the dossier link (/d/<token>) and from the login (/portal/):
the overview, the documents by kind, one document with its print view and PDF, and the
e-mail address a customer leaves when none is known. The postal-code / customer-number
check is the link's own.

Each page is one view (`portal.place.route` registers it under both ways in); paying,
questions, quote decisions, the statement and instalment plans live in portal/dossier_*.py
and portal/statement.py the same way.
"""

from __future__ import annotations

from flask import Response, abort, current_app, redirect, request, session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import clock
from models.db import db
from models.documents import KIND_NAMES, KIND_PLURALS, Document, DocumentKind
from models.services import document_originals, document_pdf, dossier, einvoice, instalments, pdf, provided_email, questions, quotes
from models.services.errors import DomainError
from portal.forms import DossierCheckForm, ProvideEmailForm
from portal.place import VERIFIED, CustomerPlace, alias, document_of, dossier_limit, from_link, invoice_of, key_per_place, private, route
from web.errors import error_page
from web.extensions import limiter
from web.transaction import commit_change

# The dossier link's way in, by the names the link-only pages use (details, contact
# persons, the step-up code): a place opened from a token.

# The tabs of the Documents page, and each kind's name in the customer's language.
KIND_TABS = {kind: KIND_PLURALS[kind] for kind in (
    DocumentKind.invoice, DocumentKind.quote, DocumentKind.order_confirmation, DocumentKind.delivery_note,
    DocumentKind.credit_note, DocumentKind.reminder)}
QUESTION_HEADINGS = {
    DocumentKind.invoice: _l("Questions about this invoice"),
    DocumentKind.quote: _l("Questions about this quote"),
}


# --- the overview ---------------------------------------------------------------------------


def _overview(place: CustomerPlace, *, check_form=None, email_form=None, status: int = 200):
    context = {"check_form": check_form, "email_form": email_form, "today": clock.today()}
    if place.verified:
        context.update(_open_and_paid(place, email_form))
    elif check_form is None:
        context["check_form"] = _check_form(place)
    return place.render("portal/overview.html", status=status, **context)


def _open_and_paid(place: CustomerPlace, email_form=None) -> dict:
    """The open invoices with what is outstanding, the latest paid ones, a running plan, the
    e-mail address form."""
    if place.settings.releases(DocumentKind.invoice.value):
        listed = dossier.invoices(place.customer)
        context = {"invoices": listed.open, "outstanding": listed.outstanding, "paid": listed.paid}
    else:
        context = {"invoices": [], "outstanding": {}, "paid": []}
    # The link's one query said whether a plan runs; a login asks only with open invoices.
    if context["invoices"] and place.settings.allow_instalments and (place.running_plan_id or not place.by_link):
        context["plan"] = instalments.running_plan(place.customer)
    if email_form is None and provided_email.is_wanted(place.customer):
        context["email_form"] = ProvideEmailForm()
    return context


def _check_form(place: CustomerPlace) -> DossierCheckForm:
    form = DossierCheckForm()
    if place.settings.dossier_check == "customer_number":
        form.answer.label.text = _("Customer number")
    return form


@route("", "overview", login="home", link="dossier_page", verified=False)
def overview(place: CustomerPlace):
    """The overview; staff see when the dossier link was last opened (written with this request)."""
    response = _overview(place)
    if place.by_link and place.verified:
        dossier.record_opened(place.link)
    db.session.commit()
    return response


def _link_key() -> str:
    """The link's public part: guesses at one link's postal code are counted from every
    address together."""
    return "dossier-check:" + (request.view_args or {}).get("token", "").partition(".")[0]


@route("/check", "check", methods=("POST",), login=None, verified=False, link_decorators=(
    limiter.limit(lambda: current_app.config["DOSSIER_CHECK_LIMIT_PER_LINK"], key_func=_link_key,
                  deduct_when=lambda response: response.status_code == 422,
                  # Not the usual "wait a minute": the link's check stays locked for its period.
                  error_message=lambda: _("Too many wrong answers were given for this link. Please try again "
                                          "later, or contact us.")),
))
def dossier_check(place: CustomerPlace):
    form = _check_form(place)
    if form.validate_on_submit():
        if dossier.check_passes(place.settings, place.customer, form.answer.data):
            session[VERIFIED] = [*session.get(VERIFIED, [])[-9:], place.link.public_id]
            return redirect(place.url("overview"))
        form.answer.errors.append(_("This does not match our records. Check the letter or invoice."))
    return _overview(place, check_form=form, status=422)


@route("/email", "provide_email", methods=("POST",), link="dossier_email")
def provide_email(place: CustomerPlace):
    form = ProvideEmailForm()
    if form.validate_on_submit() and commit_change(lambda: provided_email.provide(place.customer, form.email.data), form):
        return redirect(place.url("overview", _anchor="email-h"))
    return _overview(place, email_form=form, status=422)


# --- the documents, by kind -------------------------------------------------------------------


def _page_number(value: str | None) -> int:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 6 else 1


@route("/documents", "documents")
def documents(place: CustomerPlace):
    """Every document the customer sees, newest first: by kind (the released kinds that have
    documents), searched by number. A kind that is not released is a 404, as is a kind that
    does not exist."""
    released = dossier.released_kinds(place.settings)
    kind_value = request.args.get("kind") or None
    kind = next((k for k in released if k.value == kind_value), None)
    if kind_value is not None and kind is None:
        abort(404)
    listed = dossier.customer_documents(place.customer, place.settings, kind=kind,
                                        query=request.args.get("q", ""), page=_page_number(request.args.get("page")))
    return place.render("portal/documents.html", listed=listed, kind_tabs=KIND_TABS, kind_names=KIND_NAMES,
                        today=clock.today())


# --- one document: its page, printable, and its PDF -------------------------------------------


def document_status(document: Document, today) -> str:
    if document.is_overdue(today):
        return "overdue"
    if quotes.is_expired(document, today):
        return "expired"
    return document.status.value


def einvoice_offered(document: Document, settings) -> bool:
    """Whether the page offers the e-invoice downloads: downloads allowed and the document can
    be one now (a business without its VAT id or tax number cannot make any; a link that
    always fails would only give the customer a failed download)."""
    if not settings.allow_pdf_download or document.kind not in einvoice.EXPORTABLE_KINDS:
        return False
    try:
        einvoice.check_exportable(document, settings)
    except DomainError:
        return False
    return True


def document_page(place: CustomerPlace, document: Document, *, status: int = 200, **forms):
    """The page (`?print=1`: the print layout on screen): the document as printed (in its own
    language), its status, an invoice's Pay button, a quote's decision, the questions."""
    today = clock.today()
    sheet = document_pdf.build_sheet(document, place.settings, place.customer)
    response = place.render(
        "portal/dossier/document.html", status=status,
        document=document, invoice=document, title=document_pdf.title_of(document),
        sheet_body=document_pdf.render_body(sheet), document_status=document_status(document, today), today=today,
        print_view=request.args.get("print") == "1", thread=questions.thread(document),
        questions_heading=QUESTION_HEADINGS.get(document.kind, _l("Questions about this document")),
        quote_expired=quotes.is_expired(document, today),
        einvoice_offered=einvoice_offered(document, place.settings),
        **forms,
    )
    if status == 200:
        dossier.record_viewed(document)  # staff see "viewed"
        db.session.commit()
    return response


@route("/documents/<int:document_id>", "document")
def document(place: CustomerPlace, document_id: int):
    """A released document of any kind: the address its e-mail and staff's portal box give."""
    return document_page(place, document_of(place, document_id))


def dossier_invoice(place: CustomerPlace, invoice_id: int):
    """An invoice at the address invoice pages always had (in mails and letters already
    sent): the same page as …/documents/<id>."""
    return document_page(place, invoice_of(place, invoice_id))


alias("/invoices/<int:invoice_id>", "dossier_invoice", dossier_invoice)


@route("/documents/<int:document_id>/pdf", "document_pdf", link_decorators=(
    limiter.limit(lambda: current_app.config["LETTER_PDF_LIMIT"], key_func=key_per_place("dossier-pdf")),
), login_decorators=(
    limiter.limit(lambda: current_app.config["LETTER_PDF_LIMIT"], key_func=key_per_place("dossier-pdf")),
))
def document_pdf_download(place: CustomerPlace, document_id: int):
    """The document as a PDF download, when the settings allow it (else 404, as for a
    document the place does not reach)."""
    document = document_of(place, document_id)
    if not place.settings.allow_pdf_download:
        abort(404)
    original = document_originals.original_of(document)
    if original is not None:  # the accounting package's own PDF is the document
        response = Response(original.data, mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="{original.filename}"'
        dossier.record_viewed(document)
        db.session.commit()
        return response
    weasyprint = pdf.load_weasyprint()
    if weasyprint is None:
        return private(error_page(503, _("The PDF cannot be made at the moment. Please use the print view.")))
    sheet = document_pdf.build_sheet(document, place.settings, place.customer)
    response = Response(document_pdf.to_pdf(weasyprint, document_pdf.render_page(sheet)), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{sheet.filename}"'
    dossier.record_viewed(document)
    db.session.commit()
    return response



@route("/documents/<int:document_id>/einvoice/<fmt>", "document_einvoice", link_decorators=(
    limiter.limit(lambda: current_app.config["LETTER_PDF_LIMIT"], key_func=key_per_place("dossier-pdf")),
), login_decorators=(
    limiter.limit(lambda: current_app.config["LETTER_PDF_LIMIT"], key_func=key_per_place("dossier-pdf")),
))
def document_einvoice_download(place: CustomerPlace, document_id: int, fmt: str):
    """A released invoice or credit note as e-invoice `fmt` (Factur-X PDF, XRechnung UBL or
    CII) for the customer's bookkeeping, where the settings allow downloads (else 404, as
    for a document the place does not reach or a kind that is no e-invoice)."""
    document = document_of(place, document_id)
    if (not place.settings.allow_pdf_download or fmt not in einvoice.FORMATS
            or document.kind not in einvoice.EXPORTABLE_KINDS):
        abort(404)
    try:
        rendered = einvoice.render(document, fmt, place.settings)
    except DomainError:
        return private(error_page(409, _("This document cannot be made into an e-invoice at the moment. "
                                         "Please download the PDF, or ask us for the e-invoice.")))
    except einvoice.PdfUnavailable:
        return private(error_page(503, _("The PDF cannot be made at the moment. Please use the print view.")))
    response = Response(rendered.content, mimetype=rendered.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{rendered.filename}"'
    dossier.record_viewed(document)
    db.session.commit()
    return response
