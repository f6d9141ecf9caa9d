"""Staff answer a customer's question on the document page (any kind); the answer is e-mailed.

The document is looked up through `get_document` (a customer the staff member may not see
is a 404). The thread and the answer form live in templates/admin/invoices/_questions.html;
the invoice page's view is admin/invoices.py, so the template reaches the thread through
`question_thread` and its form through `answer_form`.
"""

from __future__ import annotations


from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from admin import bp
from admin.document_page import page_context
from models.services import documents as document_service
from models.services import questions
from web.forms import AppForm
from web.rendering import render
from web.transaction import commit_change


class AnswerForm(AppForm):
    body = TextAreaField(
        _l("Your answer"),
        description=_l("E-mailed to the customer with a link to their dossier."),
        validators=[DataRequired(message=_l("Write your answer.")),
                    Length(max=questions.ANSWER_MAX,
                           message=_l("Keep it under %(n)s characters.", n=questions.ANSWER_MAX))],
    )
    submit = SubmitField(_l("Send answer"))


@bp.context_processor
def _question_helpers():
    return {"new_answer_form": AnswerForm}


@bp.post("/invoices/<int:invoice_id>/answer")
def invoice_answer(invoice_id: int):
    invoice = document_service.get_document(current_user, invoice_id)  # a question on any kind
    form = AnswerForm()
    if form.validate_on_submit() and commit_change(lambda: questions.answer(current_user, invoice, form.body.data), form):
        flash(_("Your answer was sent to the customer."), "success")
        return redirect(url_for("admin.document_detail", document_id=invoice.id, _anchor="questions-h"))
    return render("admin/documents/detail.html", status=422, answer_form=form, **page_context(invoice))
