"""The invoice list across customers, one invoice, and creating an invoice with inline lines."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp
from admin.forms import ActionForm, InvoiceForm
from admin.helpers import page_arg
from models import clock
from models.services import documents as document_service
from models.services import questions
from models.services.access import get_customer
from models.services.settings import get_settings
from web.rendering import render
from web.transaction import commit_change


@bp.get("/invoices")
def invoices():
    status = request.args.get("status") or None
    attention = request.args.get("attention") or None
    query = request.args.get("q", "")[:40].replace("\x00", "")  # PostgreSQL refuses NUL
    today = clock.today()
    page = document_service.list_invoices(
        current_user,
        status=status if status in document_service.STATUS_FILTERS else None,
        attention=attention if attention in document_service.ATTENTION_FILTERS else None,
        query=query,
        today=today,
        page=page_arg(),
    )
    return render(
        "admin/invoices/list.html",
        block="results",
        page=page,
        status_filter=status,
        attention=attention,
        query=query,
        today=today,
    )


@bp.get("/invoices/<int:invoice_id>")
def invoice_detail(invoice_id: int):
    invoice = document_service.get_invoice(current_user, invoice_id)
    return render("admin/invoices/detail.html", invoice=invoice, today=clock.today(), action_form=ActionForm(),
                  thread=questions.thread(invoice, with_staff=True))


@bp.route("/customers/<int:customer_id>/invoices/new", methods=["GET", "POST"])
def invoice_new(customer_id: int):
    """Lines are added and removed by posting the form back with an `action`.

    With HTMX only the lines block is swapped; without JavaScript the whole page is
    re-rendered. Either way, nothing typed is lost.
    """
    customer = get_customer(current_user, customer_id)
    form = InvoiceForm()
    if request.method == "GET":
        today = clock.today()
        form.issue_date.data = today
        form.due_date.data = today + timedelta(days=14)
        form.currency.data = get_settings().default_currency
    action = request.form.get("action", "")
    if action == "add_line" and len(form.lines) < form.lines.max_entries:
        form.lines.append_entry()
        return render("admin/invoices/new.html", block="lines", form=form, customer=customer)
    if action.startswith("remove_line:") and len(form.lines) > 1:
        index = action.partition(":")[2]
        kept = [entry.data for i, entry in enumerate(form.lines) if str(i) != index]
        form = InvoiceForm(formdata=None, data={**form.data, "lines": kept})
        return render("admin/invoices/new.html", block="lines", form=form, customer=customer)
    if action == "save" and form.validate_on_submit():
        created = commit_change(lambda: document_service.create_invoice(
            current_user,
            customer,
            issue_date=form.issue_date.data,
            due_date=form.due_date.data,
            currency=form.currency.data,
            lines=[document_service.LineInput(**entry.data) for entry in form.lines],
        ), form)
        if created:
            flash(_("Invoice %(number)s was created.", number=created.value.number), "success")
            return redirect(url_for("admin.invoice_detail", invoice_id=created.value.id))
    status = 422 if request.method == "POST" and action == "save" else 200
    return render("admin/invoices/new.html", form=form, customer=customer, status=status)
