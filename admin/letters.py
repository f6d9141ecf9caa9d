"""Printed letters: an invoice's invoice and reminder letters, and the reminder letter of an
unpaid instalment (the letter list's), each as an HTML print view and a PDF (WeasyPrint).

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
from models.services import instalments as plans
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


def _issue(build) -> letters.Letter | tuple:
    """The letter `build` makes, committed (the customer's first dossier link, if this creates
    it), or an error page (409: this letter cannot be printed, saying why).

    The caller looked the invoice or instalment up with the staff member's visibility first:
    one they may not see is a 404 whatever else is wrong."""
    built = commit_change(build)
    return built.value if built else error_page(409, str(built.error.message))


def _invoice_letter(invoice) -> letters.Letter | tuple:
    try:
        kind = letters.parse_kind(request.args.get("kind"))
    except DomainError as error:
        return error_page(400, str(error.message))
    return _issue(lambda: letters.build_letter(invoice, kind, link_url=_public_url, today=clock.today()))


def _instalment_letter(instalment) -> letters.Letter | tuple:
    return _issue(lambda: letters.build_instalment_letter(instalment, link_url=_public_url, today=clock.today()))


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


def _print_view(letter) -> str | tuple:
    return _render(letter, print_view=True) if isinstance(letter, letters.Letter) else letter


def _pdf(issue) -> Response | tuple:
    """The letter as a PDF (WeasyPrint); `issue` makes the letter, once WeasyPrint is known to load."""
    weasyprint = load_weasyprint()
    if weasyprint is None:
        return error_page(503, _("PDF letters are not available on this server: WeasyPrint cannot load its "
                             "system libraries (Pango). Use the print view and your browser's "
                             "\"Save as PDF\", or ask the administrator to install them."))
    letter = issue()
    if not isinstance(letter, letters.Letter):
        return letter
    pdf = html_to_pdf(weasyprint, _render(letter, print_view=False), STYLESHEETS)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{letter.filename}"'
    return response


@bp.get("/invoices/<int:invoice_id>/letter")
def invoice_letter(invoice_id: int):
    return _print_view(_invoice_letter(document_service.get_invoice(current_user, invoice_id)))


@bp.get("/invoices/<int:invoice_id>/letter.pdf")
@pdf_rate_limit("letter")
def invoice_letter_pdf(invoice_id: int):
    invoice = document_service.get_invoice(current_user, invoice_id)  # 404 before anything else
    return _pdf(lambda: _invoice_letter(invoice))


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


# --- the reminder letter of an unpaid instalment (the letter list links to it) ----------------


@bp.get("/instalments/<int:instalment_id>/letter")
def instalment_letter(instalment_id: int):
    return _print_view(_instalment_letter(plans.get_instalment(current_user, instalment_id)))


@bp.get("/instalments/<int:instalment_id>/letter.pdf")
@pdf_rate_limit("letter")
def instalment_letter_pdf(instalment_id: int):
    instalment = plans.get_instalment(current_user, instalment_id)  # 404 before anything else
    return _pdf(lambda: _instalment_letter(instalment))


@bp.post("/instalments/<int:instalment_id>/letter/printed")
def instalment_letter_printed(instalment_id: int):
    """Record that the instalment's reminder letter was printed: it leaves the letter list."""
    instalment = plans.get_instalment(current_user, instalment_id)
    if commit_change(lambda: letters.record_instalment_printed(current_user, instalment, clock.today()),
                     flash_error=True):
        flash(_("Recorded in the customer's history: letter printed."), "success")
    return redirect(url_for("admin.dunning_letters"))
