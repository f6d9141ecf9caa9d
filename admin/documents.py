"""The document list across customers, a customer's Documents tab, and the account
statement as CSV and PDF.

The list's endpoint keeps the name `admin.invoices` (pages link to its Attention filters
by it); /admin/documents is its address, /admin/invoices the address it had, still served.
Filters come in the query string. A kind, status or sort the list does not know is left
out; a period date that is no date is shown at its field (422) and left out too.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Response, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, Form
from wtforms.validators import Optional, ValidationError

from admin import bp
from admin.helpers import page_arg, pdf_rate_limit
from models import clock
from models.documents import KIND_NAMES, KIND_PLURALS, RECEIVABLE_KINDS, DocumentKind, DocumentStatus
from models.services import document_list, statement
from models.services.access import get_customer
from models.services.document_list import DocumentFilter
from models.services.pdf import html_to_pdf, load_weasyprint
from models.services.settings import get_settings
from web.errors import error_page, parse_id
from web.rendering import render

ATTENTION_LABELS = {
    "no_email": _l("No e-mail address known"),
    "provided_email": _l("E-mail address provided"),
    "questions": _l("Unanswered questions"),
}
SORT_LABELS = {
    "number": _l("Number"),
    "customer": _l("Customer"),
    "date": _l("Issue date"),
    "due": _l("Due / valid until"),
    "amount": _l("Total"),
}
STATEMENT_LANGUAGES = ("nl", "de", "en")
FIRST_YEAR, LAST_YEAR = 1900, 2999


def _plausible(form, field) -> None:
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(_l("Enter a date between %(first)s and %(last)s.", first=FIRST_YEAR, last=LAST_YEAR))


class PeriodDateField(DateField):
    """A date as the browser's date input sends it (YYYY-MM-DD), with a message that says so."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(_l("Enter the date as YYYY-MM-DD, e.g. 2025-03-31.")) from None


class PeriodForm(Form):
    """The period of the Documents tab and the statement: a GET form, nothing to protect."""

    date_from = PeriodDateField(_l("From"), validators=[Optional(), _plausible])
    date_to = PeriodDateField(_l("Until"), validators=[Optional(), _plausible])

    def validate_date_to(self, field) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("The end of the period cannot be before its start."))

    def period(self) -> tuple[date | None, date | None]:
        """The dates that are valid (an invalid one is left out, its message is shown)."""
        return (None if self.date_from.errors else self.date_from.data,
                None if self.date_to.errors else self.date_to.data)


def _filters(**extra) -> DocumentFilter:
    args = request.args
    return DocumentFilter.parse(kind=args.get("kind"), status=args.get("status"), attention=args.get("attention"),
                                query=args.get("q"), sort=args.get("sort"), direction=args.get("dir"), **extra)


def _query_args(filters: DocumentFilter) -> dict:
    """The filters as query arguments (links keep them; empty ones are left out)."""
    args = {
        "kind": filters.kind.value if filters.kind else None,
        "status": filters.status,
        "attention": filters.attention,
        "q": filters.query or None,
        "customer": filters.customer_id,
        "date_from": filters.date_from.isoformat() if filters.date_from else None,
        "date_to": filters.date_to.isoformat() if filters.date_to else None,
        "sort": filters.sort if filters.sort != "date" else None,
        "dir": filters.direction if (filters.sort, filters.direction) != ("date", "desc") else None,
    }
    return {key: value for key, value in args.items() if value is not None}


def _labels() -> dict:
    return {
        "kind_labels": KIND_NAMES,
        "kind_plurals": KIND_PLURALS,
        "attention_labels": ATTENTION_LABELS,
        "sort_labels": SORT_LABELS,
        "receivable_kinds": RECEIVABLE_KINDS,
        "shown_status": shown_status,
    }


def shown_status(document, today: date) -> str:
    """The status a person reads: a pending quote past its valid-until date is expired."""
    if (document.status == DocumentStatus.pending and document.valid_until is not None
            and document.valid_until < today):
        return "expired"
    return document.status.value


# --- the document list ---------------------------------------------------------------------


@bp.get("/invoices", endpoint="invoices")  # the list's address before documents of every kind
@bp.get("/documents", endpoint="invoices")  # registered first: the address url_for() gives
def documents():
    customer_id = parse_id(request.args.get("customer"))
    customer = get_customer(current_user, customer_id) if customer_id else None  # 404: not theirs
    filters = _filters(customer_id=customer_id)
    today = clock.today()
    page = document_list.list_documents(current_user, filters, today=today, page=page_arg())
    return render(
        "admin/documents/list.html",
        block="results",
        page=page,
        filters=filters,
        args=_query_args(filters),
        customer=customer,
        attention_counts=document_list.attention_counts(current_user),
        today=today,
        **_labels(),
    )


# --- a customer's Documents tab ------------------------------------------------------------


@bp.get("/customers/<int:customer_id>/documents")
def customer_documents(customer_id: int):
    customer = get_customer(current_user, customer_id)
    form = PeriodForm(request.args)
    valid = form.validate()
    date_from, date_to = form.period()
    filters = _filters(date_from=date_from, date_to=date_to).with_(attention=None, query="")
    today = clock.today()
    return render(
        "admin/customers/documents.html",
        block="results",
        status=200 if valid else 422,
        customer=customer,
        form=form,
        page=document_list.customer_documents(customer, filters, today=today, page=page_arg()),
        filters=filters,
        args=_query_args(filters),
        statement=statement.statement(customer, date_from, date_to),
        today=today,
        **_labels(),
    )


def _statement_request(customer_id: int):
    """The customer and their statement for the period asked, or an error page (400)."""
    customer = get_customer(current_user, customer_id)
    form = PeriodForm(request.args)
    if not form.validate():
        messages = [str(message) for field in form for message in field.errors]
        return customer, error_page(400, " ".join(messages))
    date_from, date_to = form.period()
    return customer, statement.statement(customer, date_from, date_to)


def _filename(customer, result: statement.Statement, extension: str) -> str:
    """`statement-<customer number>[-<from>][-<to>].<ext>`, only characters every header accepts."""
    parts = ["statement", customer.number]
    parts += [d.isoformat() for d in (result.date_from, result.date_to) if d]
    return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts)) + "." + extension


@bp.get("/customers/<int:customer_id>/documents/statement.csv")
def customer_statement_csv(customer_id: int):
    customer, result = _statement_request(customer_id)
    if not isinstance(result, statement.Statement):
        return result
    response = Response(statement.to_csv(result), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(customer, result, "csv")}"'
    return response


@bp.get("/customers/<int:customer_id>/documents/statement.pdf")
@pdf_rate_limit("statement")
def customer_statement_pdf(customer_id: int):
    """The statement in the customer's language, as the letters are (the same table as the tab)."""
    customer, result = _statement_request(customer_id)
    if not isinstance(result, statement.Statement):
        return result
    weasyprint = load_weasyprint()
    if weasyprint is None:
        return error_page(503, _("PDF files are not available on this server: WeasyPrint cannot load its "
                                 "system libraries (Pango). Download the statement as CSV, or ask the "
                                 "administrator to install them."))
    language = customer.language if customer.language in STATEMENT_LANGUAGES else "en"
    with force_locale(language):
        html = render_template("admin/documents/statement_pdf.html", customer=customer, statement=result,
                               business=get_settings(), today=clock.today(), language=language)
    response = Response(html_to_pdf(weasyprint, html), mimetype="application/pdf")  # its style is in the page
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(customer, result, "pdf")}"'
    return response

