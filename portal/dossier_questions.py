"""/d/<token>/invoices/<id>/questions: the debtor asks a question about one invoice.

The invoice is looked up together with the link's own customer (`invoice_of`), so a
changed id in the URL is a 404, never someone else's thread. The thread and the form are
shown on the invoice page (templates/portal/dossier/_questions.html); its view belongs to
portal/dossier.py, so the template reaches the thread through `question_thread`.
"""

from __future__ import annotations


from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from models import clock
from models.services import questions
from portal import bp
from portal.dossier import dossier_limit, invoice_of, open_dossier, private
from web.forms import AppForm
from web.rendering import render
from web.transaction import commit_change



class QuestionForm(AppForm):
    body = TextAreaField(
        _l("Your question"),
        validators=[DataRequired(message=_l("Write your question.")),
                    Length(max=questions.QUESTION_MAX,
                           message=_l("Keep it under %(n)s characters.", n=questions.QUESTION_MAX))],
    )
    submit = SubmitField(_l("Send question"))


@bp.context_processor
def _question_helpers():
    """For the invoice page's slot: a new question form."""
    return {"new_question_form": QuestionForm}


@bp.post("/d/<token>/invoices/<int:invoice_id>/questions")
@dossier_limit
def dossier_ask(token: str, invoice_id: int):
    opened = open_dossier(token)
    invoice = invoice_of(opened, invoice_id)
    if not opened.settings.allow_questions:
        abort(404)
    form = QuestionForm()
    if form.validate_on_submit() and commit_change(lambda: questions.ask(opened.customer, invoice, form.body.data), form):
        flash(_("Your question was sent. We will answer by e-mail and on this page."), "success")
        return redirect(url_for("portal.dossier_invoice", token=token, invoice_id=invoice_id, _anchor="questions-h"))
    return private(render(
        "portal/dossier_invoice.html", status=422, dossier=opened, customer=opened.customer,
        business=opened.settings, token=token, invoice=invoice, print_view=False, today=clock.today(),
        question_form=form, thread=questions.thread(invoice),
    ))

