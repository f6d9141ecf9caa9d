"""Printed letters for an invoice: an HTML print view and a PDF (WeasyPrint).

The letter itself is in the customer's language; the print view's toolbar stays in the
staff member's. The PDF is made by models.services.pdf (nothing fetched): an installation
without WeasyPrint's system libraries (Pango) still runs, and only the PDF answers 503
saying why.

Opening a letter (print view or PDF) records nothing; the print view's "Mark this letter
as printed" button (a POST) puts it in the customer's history. The PDF, a WeasyPrint
rendering each time, is rate limited per staff member (LETTER_PDF_LIMIT).
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from admin import bp
from admin.helpers import pdf_rate_limit
from models import clock
from models.services import documents as document_service
from models.services import letters
from models.services.errors import DomainError
from models.services.pdf import html_to_pdf, load_weasyprint
from web.errors import error_page
from web.rendering import external_url
from web.transaction import commit_change

# The printed sheet's page, letterhead and toolbar (shared with documents), then the letter's own.
STYLESHEETS = ("css/document.css", "css/letter.css")


def _public_url(token: str) -> str:
    """The dossier URL exactly as the customer's Info tab and every e-mail show it."""
    return external_url(url_for("portal.dossier_page", token=token))


def _issue(invoice) -> letters.Letter | tuple:
    """The letter, committed (the customer's first dossier link, if this creates it), or an
    error page.

    The caller got the invoice through get_invoice first: an invoice the staff member may
    not see is a 404 whatever else is wrong.
    """
    try:
        kind = letters.parse_kind(request.args.get("kind"))
    except DomainError as error:
        return error_page(400, str(error.message))
    built = commit_change(lambda: letters.build_letter(invoice, kind, link_url=_public_url, today=clock.today()))
    return built.value if built else error_page(409, str(built.error.message))


def _render(letter: letters.Letter, *, print_view: bool) -> str:
    """The letter body in the customer's language inside a page shell.

    The print view's shell (title, toolbar) speaks the staff member's language; the PDF
    is the customer's document through and through.
    """
    with force_locale(letter.language):
        body = Markup(render_template("letters/letter.html", letter=letter))
        if not print_view:
            return render_template("letters/page.html", letter=letter, body=body, stylesheets=STYLESHEETS,
                                   toolbar_language=None)
    return render_template("letters/page.html", letter=letter, body=body, stylesheets=STYLESHEETS,
                           toolbar_language=str(get_locale() or "en"))


@bp.get("/invoices/<int:invoice_id>/letter")
def invoice_letter(invoice_id: int):
    letter = _issue(document_service.get_invoice(current_user, invoice_id))
    if not isinstance(letter, letters.Letter):
        return letter
    return _render(letter, print_view=True)


@bp.get("/invoices/<int:invoice_id>/letter.pdf")
@pdf_rate_limit("letter")
def invoice_letter_pdf(invoice_id: int):
    invoice = document_service.get_invoice(current_user, invoice_id)  # 404 before anything else
    weasyprint = load_weasyprint()
    if weasyprint is None:
        return error_page(503, _("PDF letters are not available on this server: WeasyPrint cannot load its "
                             "system libraries (Pango). Use the print view and your browser's "
                             "\"Save as PDF\", or ask the administrator to install them."))
    letter = _issue(invoice)
    if not isinstance(letter, letters.Letter):
        return letter
    pdf = html_to_pdf(weasyprint, _render(letter, print_view=False), STYLESHEETS)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{letter.filename}"'
    return response


@bp.post("/invoices/<int:invoice_id>/letter/printed")
def invoice_letter_printed(invoice_id: int):
    """Record in the customer's history that this letter was printed (CSRF: app-wide)."""
    invoice = document_service.get_invoice(current_user, invoice_id)
    try:
        kind = letters.parse_kind(request.form.get("kind"))
    except DomainError as error:
        return error_page(400, str(error.message))
    if commit_change(lambda: letters.record_printed(current_user, invoice, kind), flash_error=True):
        flash(_("Recorded in the customer's history: letter printed."), "success")
    return redirect(url_for("admin.document_detail", document_id=invoice.id))
