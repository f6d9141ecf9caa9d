"""What a customer says about one document, from the dossier link and from the login: a
question (…/documents/<id>/questions, any kind; invoices also at the link's old address
…/invoices/<id>/questions) and a quote's decision (…/documents/<id>/decision).

The document is looked up together with the place's own customer (`document_of`), so a
changed id in the URL is a 404, never someone else's thread or quote. The thread and the
forms are shown on the document's page (templates/portal/dossier/_questions.html and
_quote_decision.html); a refused form is that page again, with the messages, and a 422.
"""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from models import clock
from models.documents import Document, DocumentKind
from models.services import notifications, questions, quotes
from portal import bp
from portal.dossier import document_page
from portal.place import CustomerPlace, alias, document_of, invoice_of, route
from web.forms import AppForm
from web.transaction import commit_change


class QuestionForm(AppForm):
    body = TextAreaField(
        _l("Your question"),
        validators=[DataRequired(message=_l("Write your question.")),
                    Length(max=questions.QUESTION_MAX,
                           message=_l("Keep it under %(n)s characters.", n=questions.QUESTION_MAX))],
    )
    submit = SubmitField(_l("Send question"))


class QuoteDecisionForm(AppForm):
    """Accept or reject: the two buttons send `decision`; the name is recorded with it."""

    name = StringField(_l("Your name"), validators=[DataRequired(message=_l("Enter your name.")), Length(max=200)])
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=2000)])
    decision = HiddenField(validators=[AnyOf(("accept", "reject"), message=_l("Choose Accept or Reject."))])


@bp.context_processor
def _document_forms():
    """For the document page's slots: empty question and decision forms."""
    return {"new_question_form": QuestionForm, "new_decision_form": QuoteDecisionForm}


# --- questions ------------------------------------------------------------------------------


def _ask(place: CustomerPlace, document: Document, back: str):
    if not place.settings.allow_questions:
        abort(404)
    form = QuestionForm()
    if form.validate_on_submit() and commit_change(lambda: questions.ask(place.customer, document, form.body.data), form):
        flash(_("Your question was sent. We will answer by e-mail and on this page."), "success")
        return redirect(back + "#questions-h")
    return document_page(place, document, status=422, question_form=form)


@route("/documents/<int:document_id>/questions", "document_ask", methods=("POST",))
def document_ask(place: CustomerPlace, document_id: int):
    document = document_of(place, document_id)
    return _ask(place, document, place.url("document", document_id=document.id))


def dossier_ask(place: CustomerPlace, invoice_id: int):
    """The link's old address of an invoice's questions (pages already open post here)."""
    invoice = invoice_of(place, invoice_id)
    return _ask(place, invoice, url_for("portal.dossier_invoice", token=place.token, invoice_id=invoice.id))


alias("/invoices/<int:invoice_id>/questions", "dossier_ask", dossier_ask, methods=("POST",))


# --- a quote's decision -----------------------------------------------------------------------


@route("/documents/<int:document_id>/decision", "quote_decision", methods=("POST",))
def quote_decision(place: CustomerPlace, document_id: int):
    """Accept or reject a pending quote, when the business lets customers decide (else 404,
    as for a quote the place does not reach); the responsible staff member is e-mailed."""
    quote = document_of(place, document_id)
    if quote.kind != DocumentKind.quote or not place.settings.allow_quote_decisions:
        abort(404)
    form = QuoteDecisionForm()

    def decide():
        decided = quotes.decide(quote, accept=form.decision.data == "accept", name=form.name.data,
                                comment=form.comment.data or "", today=clock.today())
        notifications.quote_decided(decided)
        return decided

    if form.validate_on_submit() and commit_change(decide, form):
        flash(_("Thank you: you accepted the quote. We will be in touch.") if quote.status.value == "accepted"
              else _("You rejected the quote. Thank you for letting us know."), "success")
        return redirect(place.url("document", document_id=quote.id) + "#decision-h")
    return document_page(place, quote, status=422, decision_form=form)
