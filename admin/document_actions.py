"""Staff corrections on one document, each a POST that comes back to the document page:
issue or delete a draft, cancel, record or undo a payment, write off, apply customer credit,
record a quote's decision, turn an accepted quote into an order confirmation or invoice,
and release a document to the portal or withdraw it. Each is audited by its service.

What cannot be undone simply (cancelling, writing off, deleting a draft, undoing a
payment) asks first (admin.confirmations).
"""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp, confirmations
from admin.document_forms import ConvertForm, PaymentForm, QuoteDecisionForm, ReleaseForm
from admin.document_page import page_context
from admin.forms import ActionForm
from models import clock
from models.documents import KIND_NAMES, DocumentKind
from models.formatting import format_currency
from models.services import credit_notes, credits, quotes, recorded_payments
from models.services import documents as document_service
from models.services.errors import NotFound
from web.errors import parse_id
from web.rendering import render
from web.transaction import commit_change


def _back(document):
    return redirect(url_for("admin.document_detail", document_id=document.id))


def _load(document_id: int):
    return document_service.get_document(current_user, document_id)


def _ask(document, *, title: str, consequences: list[str], yes: str, endpoint: str, **values):
    return confirmations.ask(
        title=title, consequences=consequences, yes=yes,
        action=url_for(endpoint, document_id=document.id, **values),
        cancel=url_for("admin.document_detail", document_id=document.id),
    )


@bp.post("/documents/<int:document_id>/issue")
def document_issue(document_id: int):
    document = _load(document_id)
    if ActionForm().validate_on_submit() and commit_change(
            lambda: document_service.issue_draft(current_user, document), flash_error=True):
        flash(_("Invoice %(number)s was issued.", number=document.number), "success")
    return _back(document)


@bp.post("/documents/<int:document_id>/delete")
def document_delete(document_id: int):
    document = _load(document_id)
    if not ActionForm().validate_on_submit():
        return _back(document)
    if not confirmations.confirmed():
        return _ask(document, title=_("Delete this draft?"), endpoint="admin.document_delete",
                    consequences=[_("The draft and its lines are deleted. It never had a number.")],
                    yes=_("Yes, delete the draft"))
    customer_id = document.customer_id
    if commit_change(lambda: document_service.delete_draft(current_user, document), flash_error=True):
        flash(_("The draft was deleted."), "success")
        return redirect(url_for("admin.customer_overview", customer_id=customer_id))
    return _back(document)


@bp.post("/documents/<int:document_id>/cancel")
def document_cancel(document_id: int):
    document = _load(document_id)
    if not ActionForm().validate_on_submit():
        return _back(document)
    if not confirmations.confirmed():
        consequences = [_("Invoice %(number)s will no longer be owed.", number=document.number)]
        if document.sent_at is not None:
            consequences.append(_("It was sent to the customer, so a credit note for what is left on it is issued."))
        return _ask(document, title=_("Cancel invoice %(number)s?", number=document.number),
                    endpoint="admin.document_cancel", consequences=consequences, yes=_("Yes, cancel the invoice"))
    done = commit_change(lambda: credit_notes.cancel_invoice(current_user, document, clock.today()), flash_error=True)
    if done:
        flash(_("Invoice %(number)s was cancelled.", number=document.number)
              + (" " + _("Credit note %(number)s was issued.", number=done.value.number) if done.value else ""),
              "success")
    return _back(document)


@bp.post("/documents/<int:document_id>/payments")
def payment_record(document_id: int):
    document = _load(document_id)
    form = PaymentForm()
    if form.validate_on_submit():
        done = commit_change(lambda: recorded_payments.record_payment(
            current_user, document, amount=form.amount.data, received_on=form.received_on.data,
            method=form.method.data, today=clock.today(), confirm_credit=form.confirm_credit.data,
            form_key=form.key.data,
        ), form)
        if done:
            flash(_("The payment of %(amount)s was recorded.",
                    amount=format_currency(form.amount.data, document.currency)), "success")
            return _back(document)
    return render("admin/documents/detail.html", status=422, **page_context(document, payment_form=form))


@bp.post("/documents/<int:document_id>/payments/<payment_id>/undo")
def payment_undo(document_id: int, payment_id: str):
    document = _load(document_id)
    payment_number = parse_id(payment_id)
    if payment_number is None:  # "²", 99999999999999, …: no payment has that id
        abort(404)
    if not ActionForm().validate_on_submit():
        return _back(document)
    if not confirmations.confirmed():
        return _ask(document, title=_("Undo this payment?"), endpoint="admin.payment_undo", payment_id=payment_number,
                    consequences=[_("What it paid is owed again on %(number)s.", number=document.number)],
                    yes=_("Yes, undo the payment"))
    try:
        done = commit_change(lambda: recorded_payments.undo_payment(current_user, document, payment_number),
                             flash_error=True)
    except NotFound:
        done = None
        flash(_("That payment does not belong to this document."), "error")
    if done:
        flash(_("The payment was undone."), "success")
    return _back(document)


@bp.post("/documents/<int:document_id>/write-off")
def document_write_off(document_id: int):
    document = _load(document_id)
    if not ActionForm().validate_on_submit():
        return _back(document)
    if not confirmations.confirmed():
        return _ask(document, title=_("Write off what is left on %(number)s?", number=document.number),
                    endpoint="admin.document_write_off",
                    consequences=[_("%(amount)s will no longer be asked for; the account statement shows the write-off.",
                                    amount=format_currency(document.outstanding, document.currency))],
                    yes=_("Yes, write it off"))
    done = commit_change(lambda: recorded_payments.write_off(current_user, document, clock.today()), flash_error=True)
    if done:
        flash(_("%(amount)s was written off.", amount=format_currency(done.value, document.currency)), "success")
    return _back(document)


@bp.post("/documents/<int:document_id>/apply-credit")
def document_apply_credit(document_id: int):
    document = _load(document_id)
    done = ActionForm().validate_on_submit() and commit_change(
        lambda: credits.apply_credit(current_user, document), flash_error=True)
    if done and done.value is not None:
        flash(_("Customer credit of %(amount)s was applied.",
                amount=format_currency(done.value.amount, document.currency)), "success")
    elif done:
        flash(_("There is no customer credit to apply to this invoice."), "error")
    return _back(document)


@bp.post("/documents/<int:document_id>/decision")
def quote_decision(document_id: int):
    """Staff record what the customer decided (by phone, by mail)."""
    document = _load(document_id)
    form = QuoteDecisionForm()
    if form.validate_on_submit() and commit_change(lambda: quotes.decide(
            document, accept=form.decision.data == "accept", name=form.name.data, comment=form.comment.data,
            today=clock.today(), actor=current_user), form):
        flash(_("The decision was recorded."), "success")
        return _back(document)
    return render("admin/documents/detail.html", status=422, **page_context(document, decision_form=form))


@bp.post("/documents/<int:document_id>/convert")
def quote_convert(document_id: int):
    document = _load(document_id)
    form = ConvertForm()
    into = {"order_confirmation": DocumentKind.order_confirmation, "invoice": DocumentKind.invoice}.get(form.into.data)
    if form.validate_on_submit() and into is not None:
        done = commit_change(lambda: quotes.convert(current_user, document, into, clock.today()), flash_error=True)
        if done:
            flash(_("%(kind)s %(number)s was made from the quote.", kind=KIND_NAMES[into],
                    number=done.value.number or _("(draft)")), "success")
            return redirect(url_for("admin.document_detail", document_id=done.value.id))
    else:
        flash(_("Choose an order confirmation or an invoice."), "error")
    return _back(document)


@bp.post("/documents/<int:document_id>/release")
def document_release(document_id: int):
    document = _load(document_id)
    form = ReleaseForm()
    if form.validate_on_submit() and commit_change(
            lambda: document_service.set_released(current_user, document, form.released.data == "1"), flash_error=True):
        flash(_("The customer sees this document.") if document.released_to_portal
              else _("The customer no longer sees this document."), "success")
    return _back(document)
