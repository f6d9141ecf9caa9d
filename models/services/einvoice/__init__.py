"""E-invoices (EN 16931) out of Dossier's invoices and credit notes, and into documents.

Out, three formats of one document (`render(document, fmt)`):
- `facturx`: Factur-X / ZUGFeRD, profile EN 16931: the document's own PDF (WeasyPrint,
  PDF/A-3b) with its CII XML embedded as factur-x.xml (the `factur-x` library writes the
  attachment and the XMP metadata that make it Factur-X);
- `xrechnung-ubl`: XRechnung 3.0 as a UBL 2.1 Invoice or CreditNote;
- `xrechnung-cii`: XRechnung 3.0 as CII.

Every one passes the official EN 16931 rules (validation.py; the tests run them on each
generated file). XRechnung's own German rules (KoSIT) are not run here; they add, for
instance, a seller telephone number, which the settings do not hold yet.

In: models.services.einvoice.incoming.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from models.documents import Document
from models.services.einvoice import cii, ubl
from models.services.einvoice.invoice import (
    EN16931,
    EXPORTABLE_KINDS,
    XRECHNUNG,
    EInvoice,
    check_exportable,
    from_document,
)
from models.services.settings import get_settings
from models.settings import BusinessSettings

__all__ = ["EXPORTABLE_KINDS", "FORMATS", "PdfUnavailable", "Rendered", "check_exportable", "einvoice_of",
           "render"]


@dataclass(frozen=True)
class Format:
    key: str
    label: object  # lazy string
    extension: str
    mimetype: str


FORMATS = {
    "facturx": Format("facturx", _l("Factur-X PDF"), "pdf", "application/pdf"),
    "xrechnung-ubl": Format("xrechnung-ubl", _l("XRechnung (UBL)"), "xml", "application/xml"),
    "xrechnung-cii": Format("xrechnung-cii", _l("XRechnung (CII)"), "xml", "application/xml"),
}


@dataclass(frozen=True)
class Rendered:
    content: bytes
    filename: str
    mimetype: str


class PdfUnavailable(Exception):
    """WeasyPrint cannot load its system libraries: no Factur-X PDF on this server."""


def einvoice_of(document: Document, fmt: str, settings: BusinessSettings | None = None) -> EInvoice:
    settings = settings or get_settings()
    return from_document(document, settings, specification=EN16931 if fmt == "facturx" else XRECHNUNG)


def filename(document: Document, fmt: str) -> str:
    """`invoice-2026-00001.xrechnung-ubl.xml`, `invoice-2026-00001.pdf` (Factur-X): in
    characters every file system and header accepts."""
    number = document.number or f"draft-{document.id}"
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in number)
    stem = f"{document.kind.value.replace('_', '-')}-{safe}"
    return f"{stem}.pdf" if fmt == "facturx" else f"{stem}.{fmt}.xml"


def xml_of(document: Document, fmt: str, settings: BusinessSettings | None = None) -> bytes:
    """The XML of `fmt` (for facturx: the CII that goes into the PDF)."""
    einvoice = einvoice_of(document, fmt, settings)
    return ubl.to_xml(einvoice) if fmt == "xrechnung-ubl" else cii.to_xml(einvoice)


def facturx_pdf(pdf: bytes, xml: bytes, *, title: str, author: str, language: str | None = None) -> bytes:
    """A PDF/A-3 `pdf` with `xml` (CII, EN 16931 profile) embedded as Factur-X; the library
    checks the XML against Factur-X's schema first."""
    from facturx import generate_from_binary

    return generate_from_binary(
        pdf, xml, flavor="factur-x", level="en16931", check_xsd=True,
        pdf_metadata={"author": author, "keywords": "Factur-X, ZUGFeRD, EN 16931", "title": title,
                      "subject": title},
        lang=language,
    )


def render(document: Document, fmt: str, settings: BusinessSettings | None = None) -> Rendered:
    """The document as e-invoice `fmt` (a key of FORMATS). DomainError when it cannot be one
    (check_exportable), PdfUnavailable for Factur-X without WeasyPrint."""
    if fmt not in FORMATS:
        raise KeyError(fmt)
    settings = settings or get_settings()
    xml = xml_of(document, fmt, settings)
    if fmt != "facturx":
        return Rendered(xml, filename(document, fmt), FORMATS[fmt].mimetype)
    from models.services import document_pdf, pdf  # the PDF side only when one is asked for

    weasyprint = pdf.load_weasyprint()
    if weasyprint is None:
        raise PdfUnavailable()
    sheet = document_pdf.build_sheet(document, settings)
    printed = document_pdf.to_pdf(weasyprint, document_pdf.render_page(sheet), pdf_variant="pdf/a-3b")
    content = facturx_pdf(printed, xml, title=f"{settings.business_name}: {sheet.title} {document.number}",
                          author=settings.business_name, language=sheet.language)
    return Rendered(content, filename(document, fmt), FORMATS[fmt].mimetype)
