"""E-invoices in: staff upload a UBL, CII or Factur-X file from the business's own invoicing
system and it becomes a document (models.services.einvoice.incoming).

The file is validated first; one that is not XML, of no known syntax or breaks EN 16931
rules is refused with 422 and the rules listed (id and text). A buyer that matches no
customer the staff member sees is proposed as a new customer: the page shows it with a
confirm button, which posts the validated XML back (read and validated again there).
"""

from __future__ import annotations

import base64
import binascii

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp
from admin.forms import EInvoiceConfirmForm, EInvoiceUploadForm
from models.services.einvoice import incoming
from web.rendering import render
from web.transaction import commit_change

TEMPLATE = "admin/einvoices/upload.html"


def _page(form=None, *, status: int = 200, refused: incoming.Refused | None = None, reading=None, proposal=None,
          confirm_form=None):
    return render(TEMPLATE, status=status, form=form or EInvoiceUploadForm(), refused=refused, reading=reading,
                  proposal=proposal, confirm_form=confirm_form)


def _label() -> str:
    return f"{current_user.name} <{current_user.email}> (e-invoice upload)"


def _imported(outcome):
    document, state = outcome.value
    if state == "unchanged":
        flash(_("This e-invoice was imported before: %(number)s is unchanged.", number=document.number), "success")
    else:
        flash(_("The e-invoice was imported as %(number)s.", number=document.number), "success")
    return redirect(url_for("admin.document_detail", document_id=document.id))


@bp.route("/einvoices/upload", methods=["GET", "POST"])
def einvoice_upload():
    form = EInvoiceUploadForm()
    if request.method == "GET":
        return _page(form)
    if not form.validate_on_submit():
        return _page(form, status=422)
    upload = form.file.data
    data = upload.read(incoming.MAX_BYTES + 1) if upload and getattr(upload, "filename", "") else b""
    if not data:
        form.file.errors = [*form.file.errors, _("Choose a file.")]
        return _page(form, status=422)
    try:
        reading = incoming.read(data)
    except incoming.Refused as refused:
        return _page(form, status=422, refused=refused)
    customer = incoming.match_customer(reading.invoice, current_user)
    if customer is None:
        return _page(form, reading=reading, proposal=incoming.proposed_customer(reading.invoice),
                     confirm_form=EInvoiceConfirmForm(formdata=None, xml=base64.b64encode(reading.xml).decode()))
    outcome = commit_change(lambda: incoming.import_document(reading, customer, actor_label=_label()), form)
    if outcome:
        return _imported(outcome)
    return _page(form, status=422, reading=reading)


@bp.post("/einvoices/confirm")
def einvoice_confirm():
    """The proposed customer and the document, created together (or the document alone for
    a customer that appeared meanwhile)."""
    confirm_form = EInvoiceConfirmForm()
    form = EInvoiceUploadForm(formdata=None)
    if not confirm_form.validate_on_submit():
        form.form_errors.append(_("The e-invoice did not come back: upload it again."))
        return _page(form, status=422)
    try:
        data = base64.b64decode(confirm_form.xml.data, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    try:
        reading = incoming.read(data)
    except incoming.Refused as refused:
        return _page(form, status=422, refused=refused)

    def create():
        customer = (incoming.match_customer(reading.invoice, current_user)
                    or incoming.new_customer(reading.invoice, current_user, actor_label=_label()))
        return incoming.import_document(reading, customer, actor_label=_label())

    outcome = commit_change(create, form)
    if outcome:
        return _imported(outcome)
    return _page(form, status=422, reading=reading, proposal=incoming.proposed_customer(reading.invoice),
                 confirm_form=confirm_form)
