"""One document's staff page, and the forms that make documents: a new document of any
kind, a draft invoice's edit, a credit note for an invoice, a reminder for overdue invoices.

The document forms add and remove lines by posting back with an `action` (with HTMX only
the lines block is swapped; without JavaScript the whole page), so nothing typed is lost.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp
from admin.document_forms import (
    CREATE_LABELS,
    METHOD_LABELS,
    NEW_TITLES,
    ConvertForm,
    DocumentForm,
    PaymentForm,
    QuoteDecisionForm,
    ReleaseForm,
    ReminderForm,
)
from admin.forms import ActionForm
from models import clock
from models.documents import KIND_NAMES, REMINDER_LEVEL_NAMES, DocumentKind, DocumentStatus
from models.db import db
from models.services import credit_notes, credits, dossier, payments, questions, quotes, reminders
from models.services import documents as document_service
from models.services.access import get_customer
from models.services.customers import open_invoices
from models.services.settings import get_settings
from web.rendering import render
from web.transaction import commit_change

NEW_KINDS = {kind.value: kind for kind in document_service.CREATABLE_KINDS}
FORM_LABELS = {"new_titles": NEW_TITLES, "create_labels": CREATE_LABELS}


def page_context(document, **forms) -> dict:
    """Everything the document page shows, loaded here (templates run no queries)."""
    today = clock.today()
    is_invoice = document.kind == DocumentKind.invoice
    return {
        "document": document,
        "invoice": document,  # the invoice includes (letters, questions, lines) call it that
        "today": today,
        "kind_label": KIND_NAMES[document.kind],
        "kind_labels": KIND_NAMES,
        "level_labels": REMINDER_LEVEL_NAMES,
        "method_labels": METHOD_LABELS,
        "expired": quotes.is_expired(document, today),
        "payments": payments.for_invoice(document.id),
        "derived": document_service.derived_documents(document),
        "reminder_items": reminders.items_of(document) if document.kind == DocumentKind.reminder else [],
        "credit": credits.balance(document.customer_id).get(document.currency) if is_invoice else None,
        "thread": questions.thread(document, with_staff=True),
        "action_form": ActionForm(),
        "payment_form": forms.get("payment_form") or _payment_form(document, today),
        "decision_form": forms.get("decision_form") or QuoteDecisionForm(formdata=None),
        "convert_form": ConvertForm(formdata=None),
        "release_form": ReleaseForm(formdata=None),
        "portal": dossier.portal_release(document),  # may create the customer's dossier link
    }


def _payment_form(document, today) -> PaymentForm:
    return PaymentForm(formdata=None, data={"amount": max(document.outstanding, 0), "received_on": today,
                                            "key": uuid.uuid4().hex})


@bp.get("/invoices/<int:document_id>")  # the address invoice pages had; kept for links already shared
@bp.get("/documents/<int:document_id>")  # registered first: url_for builds this one
def document_detail(document_id: int):
    document = document_service.get_document(current_user, document_id)
    response = render("admin/documents/detail.html", **page_context(document))
    db.session.commit()  # the dossier link the portal box shows, if it was made just now
    return response


def _lines_action(form: DocumentForm, template: str, **context):
    """Add or remove a line (the HTMX request gets the lines block), or None to go on."""
    action = request.form.get("action", "")
    if action == "add_line" and len(form.lines) < form.lines.max_entries:
        form.lines.append_entry()
    elif action.startswith("remove_line:") and len(form.lines) > 1:
        index = action.partition(":")[2]
        kept = [entry.data for i, entry in enumerate(form.lines) if str(i) != index]
        form = DocumentForm(formdata=None, data={**form.data, "lines": kept}, kind=form.kind)
    else:
        return None
    return render(template, block="lines", form=form, **context)


@bp.route("/customers/<int:customer_id>/invoices/new", methods=["GET", "POST"])
@bp.route("/customers/<int:customer_id>/documents/new", methods=["GET", "POST"])
def document_new(customer_id: int):
    """A new invoice, quote, order confirmation or delivery note (`?kind=`). An invoice can
    be kept as a draft ("Save as draft") to finish and issue later."""
    customer = get_customer(current_user, customer_id)
    kind = NEW_KINDS.get(request.values.get("kind") or "invoice")
    if kind is None:
        abort(404)
    form = DocumentForm(kind=kind)
    context = {"customer": customer, "kind": kind, "kind_label": KIND_NAMES[kind], "mode": "new", **FORM_LABELS}
    if request.method == "GET":
        today = clock.today()
        form.issue_date.data = today
        form.due_date.data = today + timedelta(days=14) if kind == DocumentKind.invoice else None
        form.valid_until.data = today + timedelta(days=30) if kind == DocumentKind.quote else None
        form.currency.data = get_settings().default_currency
        form.key.data = uuid.uuid4().hex
    if (lines := _lines_action(form, "admin/documents/form.html", **context)) is not None:
        return lines
    action = request.form.get("action", "")
    if action in ("save", "draft") and form.validate_on_submit():
        created = commit_change(lambda: document_service.create_document(
            current_user, customer, kind, issue_date=form.issue_date.data, currency=form.currency.data,
            due_date=form.due_date.data if kind == DocumentKind.invoice else None,
            valid_until=form.valid_until.data if kind == DocumentKind.quote else None,
            draft=action == "draft", number=form.number.data or None, notes=form.notes.data,
            lines=form.line_inputs(), form_key=form.key.data,
        ), form)
        if created:
            document = created.value
            flash(_("%(kind)s %(number)s was created.", kind=KIND_NAMES[kind],
                    number=document.number or _("(draft)")), "success")
            return redirect(url_for("admin.document_detail", document_id=document.id))
    status = 422 if request.method == "POST" and action in ("save", "draft") else 200
    return render("admin/documents/form.html", form=form, status=status, **context)


@bp.route("/documents/<int:document_id>/edit", methods=["GET", "POST"])
def document_edit(document_id: int):
    """Edit a draft invoice; an issued one is corrected with a credit note instead."""
    document = document_service.get_document(current_user, document_id)
    if document.status != DocumentStatus.draft:
        flash(_("Only a draft can be edited; correct an issued invoice with a credit note."), "error")
        return redirect(url_for("admin.document_detail", document_id=document.id))
    if request.method == "GET":
        form = DocumentForm(formdata=None, obj=document, data={"lines": [
            {"description": line.description, "quantity": line.quantity, "unit_price": line.unit_price,
             "vat_rate": line.vat_rate} for line in document.lines]})
    else:
        form = DocumentForm()
    context = {"customer": document.customer, "kind": document.kind, "kind_label": KIND_NAMES[document.kind],
               "mode": "edit", "document": document, **FORM_LABELS}
    if (lines := _lines_action(form, "admin/documents/form.html", **context)) is not None:
        return lines
    action = request.form.get("action", "")
    if action == "save" and form.validate_on_submit():
        if commit_change(lambda: document_service.update_draft(
            current_user, document, issue_date=form.issue_date.data, due_date=form.due_date.data,
            currency=form.currency.data, lines=form.line_inputs(), notes=form.notes.data,
        ), form):
            flash(_("The draft was saved."), "success")
            return redirect(url_for("admin.document_detail", document_id=document.id))
    status = 422 if request.method == "POST" and action == "save" else 200
    return render("admin/documents/form.html", form=form, status=status, **context)


@bp.route("/documents/<int:document_id>/credit-note", methods=["GET", "POST"])
def credit_note_new(document_id: int):
    """A credit note for an issued invoice: it reduces what is outstanding, and what it
    credits beyond that becomes customer credit."""
    invoice = document_service.get_invoice(current_user, document_id)
    if request.method == "GET" and invoice.status in (DocumentStatus.draft, DocumentStatus.cancelled):
        # a form that could never be saved (and a draft has no number to name): say so on its page
        flash(_("A credit note refers to an issued invoice that is not cancelled."), "error")
        return redirect(url_for("admin.document_detail", document_id=invoice.id))
    form = DocumentForm(kind=DocumentKind.credit_note)
    form.currency.data = invoice.currency  # the invoice's; the form does not ask for it
    if request.method == "GET":
        form.issue_date.data = max(clock.today(), invoice.issue_date)
        form.lines[0].form.description.data = _("Credit for invoice %(number)s", number=invoice.number)
        form.lines[0].form.unit_price.data = max(invoice.outstanding, 0)
        form.lines[0].form.vat_rate.data = 0
        form.key.data = uuid.uuid4().hex
    context = {"customer": invoice.customer, "kind": DocumentKind.credit_note,
               "kind_label": KIND_NAMES[DocumentKind.credit_note], "mode": "credit", "document": invoice, **FORM_LABELS}
    if (lines := _lines_action(form, "admin/documents/form.html", **context)) is not None:
        return lines
    action = request.form.get("action", "")
    if action == "save" and form.validate_on_submit():
        created = commit_change(lambda: credit_notes.create_credit_note(
            current_user, invoice, issue_date=form.issue_date.data, lines=form.line_inputs(),
            notes=form.notes.data, number=form.number.data or None, form_key=form.key.data,
        ), form)
        if created:
            flash(_("Credit note %(number)s was created.", number=created.value.number), "success")
            return redirect(url_for("admin.document_detail", document_id=created.value.id))
    status = 422 if request.method == "POST" and action == "save" else 200
    return render("admin/documents/form.html", form=form, status=status, **context)


@bp.route("/customers/<int:customer_id>/reminders/new", methods=["GET", "POST"])
def reminder_new(customer_id: int):
    """A reminder document for some of the customer's unpaid invoices (overdue ones ticked)."""
    customer = get_customer(current_user, customer_id)
    today = clock.today()
    unpaid, _totals = open_invoices(customer)
    unpaid = [invoice for invoice in unpaid if invoice.outstanding > 0]
    form = ReminderForm()
    form.invoices.choices = [(invoice.id, invoice.number) for invoice in unpaid]
    if request.method == "GET":
        form.issue_date.data = today
        form.invoices.data = [invoice.id for invoice in unpaid if invoice.is_overdue(today)]
        form.level.data = reminders.next_level(form.invoices.data) if form.invoices.data else 1
        form.key.data = uuid.uuid4().hex
    if form.validate_on_submit():
        created = commit_change(lambda: reminders.create_reminder(
            current_user, customer, document_service.documents_of(customer, form.invoices.data),
            level=form.level.data, issue_date=form.issue_date.data, fee=form.fee.data, interest=form.interest.data,
            form_key=form.key.data,
        ), form)
        if created:
            flash(_("Reminder %(number)s was created.", number=created.value.number), "success")
            return redirect(url_for("admin.document_detail", document_id=created.value.id))
    status = 422 if request.method == "POST" else 200
    return render("admin/documents/reminder_form.html", form=form, customer=customer, unpaid=unpaid, today=today,
                  status=status)
