"""A document of any kind as print view and PDF, for staff (drafts included, marked DRAFT);
an issued invoice or credit note also as e-invoice (Factur-X PDF, XRechnung UBL or CII).

The document is in its own language (models.services.document_pdf); the print view's
toolbar stays in the staff member's. Opening either records nothing. The PDF, a WeasyPrint
rendering each time, is rate limited per staff member like letters (LETTER_PDF_LIMIT).
"""

from __future__ import annotations

from flask import Response, abort, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.routing import BuildError

from admin import bp
from admin.helpers import pdf_rate_limit
from models.services import document_originals, document_pdf, einvoice, pdf
from models.services import documents as document_service
from models.services.errors import DomainError
from web.errors import error_page


def _document_page(document_id: int) -> str:
    """The staff document page (admin.document_detail, /admin/documents/<id>)."""
    try:
        return url_for("admin.document_detail", document_id=document_id)
    except BuildError:  # not registered (yet): its address all the same
        return f"/admin/documents/{document_id}"


@bp.get("/documents/<int:document_id>/print")
def document_print(document_id: int):
    document = document_service.get_document(current_user, document_id)
    sheet = document_pdf.build_sheet(document)
    return document_pdf.render_page(sheet, toolbar={
        "language": str(get_locale() or "en"),
        "back_url": _document_page(document.id),
        "pdf_url": url_for("admin.document_pdf", document_id=document.id),
    })


@bp.get("/documents/<int:document_id>/pdf", endpoint="document_pdf")
@pdf_rate_limit("document")
def document_pdf_file(document_id: int):
    document = document_service.get_document(current_user, document_id)  # 404 before anything else
    original = document_originals.original_of(document)
    if original is not None:  # the accounting package's own PDF is the document
        response = Response(original.data, mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'inline; filename="{original.filename}"'
        return response
    weasyprint = pdf.load_weasyprint()
    if weasyprint is None:
        return error_page(503, _("PDF documents are not available on this server: WeasyPrint cannot load its "
                                 "system libraries (Pango). Use the print view and your browser's "
                                 "\"Save as PDF\", or ask the administrator to install them."))
    sheet = document_pdf.build_sheet(document)
    response = Response(document_pdf.to_pdf(weasyprint, document_pdf.render_page(sheet)), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{sheet.filename}"'
    return response


@bp.get("/documents/<int:document_id>/einvoice/<fmt>", endpoint="document_einvoice")
@pdf_rate_limit("einvoice")
def document_einvoice_file(document_id: int, fmt: str):
    """The document as e-invoice `fmt` (einvoice.FORMATS), a download. One that cannot be an
    e-invoice (a draft, a quote, settings without a VAT id) answers 409 saying why."""
    document = document_service.get_document(current_user, document_id)  # 404 before anything else
    if fmt not in einvoice.FORMATS:
        abort(404)
    try:
        rendered = einvoice.render(document, fmt)
    except DomainError as error:
        return error_page(409, str(error.message))
    except einvoice.PdfUnavailable:
        return error_page(503, _("Factur-X PDFs are not available on this server: WeasyPrint cannot load its "
                                 "system libraries (Pango). Download the XRechnung XML instead."))
    response = Response(rendered.content, mimetype=rendered.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{rendered.filename}"'
    return response
